// WebSocket load: CONNECTIONS clients, each sending a 100-byte text message and waiting
// for its echo before the next (closed loop), for SECONDS. Prints {messages, perSecond, p50, p99, errors}.
//   node ws-load.js URL CONNECTIONS SECONDS
import { WebSocket } from 'ws';
import { messageSummary } from './message-summary.js';

const [url, conns = '100', secs = '8'] = process.argv.slice(2);
const connections = Number(conns), seconds = Number(secs);
const payload = 'x'.repeat(100);
const latencies: number[] = [];
let errors = 0;
let running = true;

const sockets = await Promise.all(Array.from({ length: connections }, () => new Promise<WebSocket>((resolve, reject) => {
  const ws = new WebSocket(url!, { perMessageDeflate: false });
  ws.once('open', () => resolve(ws));
  ws.once('error', reject);
})));
const started = performance.now();
for (const ws of sockets) {
  let sentAt = 0;
  ws.on('error', () => { errors++; });
  ws.on('message', () => {
    if (started > 0) latencies.push(performance.now() - sentAt);
    if (!running) return;
    sentAt = performance.now();
    ws.send(payload);
  });
  sentAt = performance.now();
  ws.send(payload);
}
await new Promise((r) => setTimeout(r, seconds * 1000));
running = false;
const elapsed = (performance.now() - started) / 1000;
for (const ws of sockets) ws.terminate();
process.stdout.write(messageSummary(latencies, elapsed, errors));
