// Bidi load: CONNECTIONS open Catalog.Discuss streams, each sending a ~100-byte note and
// waiting for its answer before the next (closed loop; WINDOW notes in flight per stream,
// default 1: ping-pong), for SECONDS — either straight to the
// grpc-js server with a grpc-js client (protobuf encoded and decoded per message, as a real
// client does), or through the gateway's WebSocket bridge with JSON text frames (on a
// minimal WebSocket client: the ws package's cost per message made the load generator,
// which shares its core with the gRPC server, the limit; ws-raw-client.ts).
// Prints {messages, perSecond, p50, p99, errors}.
//   node bidi-load.js grpc PORT CONNECTIONS SECONDS [WINDOW]
//   node bidi-load.js ws URL CONNECTIONS SECONDS [WINDOW]
import grpc from '@grpc/grpc-js';
import { connectRaw } from './ws-raw-client.js';
import { loadProtos } from '../src/transcode/proto-registry.js';
import { PROTO_DIR } from '../src/demo/catalog-service.js';
import { messageSummary } from './message-summary.js';

const [mode, target, conns = '50', secs = '8', win = '1'] = process.argv.slice(2);
const connections = Number(conns), seconds = Number(secs), window = Number(win);
const note = { text: 'x'.repeat(90), seq: 1 };
const latencies: number[] = [];
let errors = 0;
let running = true;

/** One stream: `send` writes a note, `onAnswer` runs per answer. */
interface Stream { send(): void; onAnswer(cb: () => void): void; stop(): void }

async function grpcStreams(): Promise<Stream[]> {
  const root = loadProtos({ files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] }, '.');
  const Note = root.lookupType('demo.catalog.v1.Note');
  const client = new grpc.Client(`127.0.0.1:${target}`, grpc.credentials.createInsecure());
  return Array.from({ length: connections }, () => {
    const call = client.makeBidiStreamRequest('/demo.catalog.v1.Catalog/Discuss', (x: Buffer) => x, (x: Buffer) => x);
    call.on('error', () => { if (running) errors++; });
    return {
      send: () => { call.write(Buffer.from(Note.encode(Note.fromObject(note)).finish())); },
      onAnswer: (cb) => call.on('data', (b: Buffer) => { Note.toObject(Note.decode(b)); cb(); }),
      stop: () => call.cancel(),
    };
  });
}

/** Through the bridge: JSON text frames on a minimal WebSocket client (ws-raw-client.ts), each answer parsed as a client would. */
async function wsStreams(): Promise<Stream[]> {
  const text = JSON.stringify(note);
  return Promise.all(Array.from({ length: connections }, async () => {
    const ws = await connectRaw(target!);
    ws.onClose(() => { if (running) errors++; });
    return { send: () => ws.sendText(text), onAnswer: (cb) => ws.onText((t) => { JSON.parse(t); cb(); }), stop: () => ws.terminate() };
  }));
}

const streams = mode === 'grpc' ? await grpcStreams() : await wsStreams();
const started = performance.now();
for (const s of streams) {
  const sentAt: number[] = [];
  s.onAnswer(() => {
    latencies.push(performance.now() - sentAt.shift()!);
    if (!running) return;
    sentAt.push(performance.now());
    s.send();
  });
  for (let i = 0; i < window; i++) { sentAt.push(performance.now()); s.send(); }
}
await new Promise((r) => setTimeout(r, seconds * 1000));
running = false;
const elapsed = (performance.now() - started) / 1000;
for (const s of streams) s.stop();
process.stdout.write(messageSummary(latencies, elapsed, errors));
process.exit(0);
