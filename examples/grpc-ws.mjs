// A bidi gRPC method over WebSocket through the gateway's bridge (transcode.websocket): each
// argument is sent as a Note ({"text", "seq"}) in a JSON text frame; each answer is printed as
// it comes; an empty frame then half-closes, and the gRPC status arrives as the close code
// (1000: OK, 4000 + code otherwise).
//   node examples/grpc-ws.mjs ws://127.0.0.1:8080/v1/notes:discuss hello world
import { WebSocket } from 'ws';

const [url = 'ws://127.0.0.1:8080/v1/notes:discuss', ...texts] = process.argv.slice(2);
const notes = (texts.length ? texts : ['hello']).map((text, i) => ({ text, seq: i + 1 }));
const ws = new WebSocket(url);
let next = 0;
const send = () => {
  if (next < notes.length) { const n = notes[next++]; console.log(`> ${JSON.stringify(n)}`); ws.send(JSON.stringify(n)); }
  else ws.send(''); // half-close: no more notes
};
ws.on('unexpected-response', (_req, res) => { console.error(`upgrade refused: ${res.statusCode}`); process.exit(1); });
ws.on('error', (e) => { console.error(e.message); process.exit(1); });
ws.on('open', () => { console.log(`connected to ${url}`); send(); });
ws.on('message', (data) => { console.log(`< ${data}`); send(); }); // the next note after each answer
ws.on('close', (code, reason) => { console.log(`closed ${code}${reason.length ? ` ${reason}` : ''}`); process.exitCode = code === 1000 ? 0 : 1; });
