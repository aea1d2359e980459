// A tiny WebSocket client for the demo: connects, sends each argument as a text message,
// prints what comes back, and closes.
//   node examples/ws-echo.mjs ws://127.0.0.1:8080/ws/echo hello world
import { WebSocket } from 'ws';

const [url = 'ws://127.0.0.1:8080/ws/echo', ...messages] = process.argv.slice(2);
const ws = new WebSocket(url);
let waiting = messages.length || 1;
ws.on('unexpected-response', (_req, res) => { console.error(`upgrade refused: ${res.statusCode}`); process.exit(1); });
ws.on('error', (e) => { console.error(e.message); process.exit(1); });
ws.on('open', () => {
  console.log(`connected to ${url}`);
  for (const m of messages.length ? messages : ['hello']) ws.send(m);
});
ws.on('message', (data) => {
  console.log(`< ${data}`);
  if (--waiting === 0) ws.close(1000, 'bye');
});
ws.on('close', (code) => { console.log(`closed ${code}`); });
