// npm run bench:grpc-unary-cost: the client-side CPU of one unary gRPC call, what every
// transcoded request and every gRPC backend of an aggregate pays at least. Calls to the
// bench gRPC server (Catalog.Echo, an empty request; the server pinned to the load core),
// 50 in flight, on
//   node:http2   a bare request per call on one session (request, end, response, data,
//                trailers, close: the floor of any client built on node:http2, the gateway's too)
//   grpc-js      @grpc/grpc-js's makeUnaryRequest (the library the gateway does not use)
//   hand-framed  a measurement, not a client: HTTP/2 frames written and read by hand on a
//                net socket (a fixed HPACK block of literals, one write per turn; answers'
//                header blocks are not decoded: a call counts when its stream had a DATA
//                frame and ended with a trailers block) — what a client with its own
//                framing could cost, HPACK decoding aside
//   gateway      the gateway's gRPC channel (src/transcode/grpc-channel.ts) as transcoding,
//                the bridge and aggregation use it: on its own HTTP/2 framing (client:
//                gateway, the default) and on node:http2 (client: node)
// Reported: CPU µs per call of this process (all its threads), median of rounds.
import http2 from 'node:http2';
import net from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import grpc from '@grpc/grpc-js';
import { processCpuUs, startProc } from './processes.js';
import { median } from './median.js';
import { LOAD_CORE } from './load-runner.js';
import { here, root, log } from './scenario-settings.js';
import { grpcChannel } from '../src/transcode/grpc-channel.js';
import { DEFAULT_H2 } from '../src/transcode/grpc-h2-client.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const IN_FLIGHT = 50;
const METHOD = '/demo.catalog.v1.Catalog/Echo';
const EMPTY = Buffer.from([0, 0, 0, 0, 0]); // an uncompressed, empty message

/** HTTP/2 frame: 9-byte header, then the payload. */
function h2Frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const b = Buffer.allocUnsafe(9 + payload.length);
  b.writeUIntBE(payload.length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(stream, 5);
  payload.copy(b, 9);
  return b;
}
/** HPACK literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2). */
const hpackLiteral = (name: string, value: string) => Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);

/** The hand-framed measurement's connection: call(done) sends one unary call. */
async function handFramed(port: number): Promise<{ call: (done: () => void) => void; close: () => void }> {
  const DATA = 0, HEADERS = 1, SETTINGS = 4, PING = 6, GOAWAY = 7, WINDOW_UPDATE = 8;
  const END_STREAM = 1, ACK = 1, END_HEADERS = 4;
  // :method POST and :scheme http from the static table (0x83, 0x86), the rest literals
  const block = Buffer.concat([Buffer.from([0x83, 0x86]), hpackLiteral(':path', METHOD), hpackLiteral(':authority', '127.0.0.1'), hpackLiteral('content-type', 'application/grpc'), hpackLiteral('te', 'trailers'), hpackLiteral('grpc-timeout', '5000m')]);
  const sock = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise((r) => sock.once('connect', r));
  const window = Buffer.alloc(4);
  window.writeUInt32BE(16 * 1024 * 1024);
  sock.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), h2Frame(SETTINGS, 0, 0, Buffer.alloc(0)), h2Frame(WINDOW_UPDATE, 0, 0, window)]));
  let out: Buffer[] = [];
  const send = (b: Buffer) => {
    out.push(b);
    if (out.length === 1) queueMicrotask(() => { sock.write(out.length === 1 ? out[0]! : Buffer.concat(out)); out = []; });
  };
  const calls = new Map<number, { data: boolean; done: () => void }>();
  let nextId = 1, unacked = 0;
  let pending: Buffer | null = null;
  sock.on('data', (chunk: Buffer) => {
    const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = null;
    let at = 0;
    while (buf.length - at >= 9) {
      const len = buf.readUIntBE(at, 3);
      if (buf.length - at < 9 + len) break;
      const type = buf[at + 3]!, flags = buf[at + 4]!, id = buf.readUInt32BE(at + 5) & 0x7fffffff;
      if (type === SETTINGS && !(flags & ACK)) send(h2Frame(SETTINGS, ACK, 0, Buffer.alloc(0)));
      else if (type === PING && !(flags & ACK)) send(h2Frame(PING, ACK, 0, buf.subarray(at + 9, at + 17)));
      else if (type === GOAWAY) throw new Error('hand-framed: the server sent GOAWAY');
      else if (type === DATA) {
        calls.get(id)!.data = true;
        unacked += len;
        if (unacked > 1 << 20) { const w = Buffer.alloc(4); w.writeUInt32BE(unacked); send(h2Frame(WINDOW_UPDATE, 0, 0, w)); unacked = 0; }
      } else if (type === HEADERS && flags & END_STREAM) {
        const c = calls.get(id)!;
        calls.delete(id);
        if (!c.data) throw new Error('hand-framed: a call ended without an answer message');
        c.done();
      }
      at += 9 + len;
    }
    if (at < buf.length) pending = Buffer.from(buf.subarray(at));
  });
  return {
    call: (done) => {
      const id = nextId;
      nextId += 2;
      calls.set(id, { data: false, done });
      send(Buffer.concat([h2Frame(HEADERS, END_HEADERS, id, block), h2Frame(DATA, END_STREAM, id, EMPTY)]));
    },
    close: () => sock.destroy(),
  };
}

/** Runs `call` CALLS times with IN_FLIGHT at once; CPU µs per call. */
async function cpuPerCall(call: (done: () => void) => void): Promise<number> {
  const c0 = processCpuUs();
  await new Promise<void>((resolve) => {
    let started = 0, finished = 0;
    const next = () => {
      if (started === CALLS) { if (finished === CALLS) resolve(); return; }
      started++;
      call(() => { finished++; next(); });
    };
    for (let i = 0; i < IN_FLIGHT; i++) next();
  });
  return (processCpuUs() - c0) / CALLS;
}

async function main(): Promise<void> {
  const server = await startProc(LOAD_CORE, process.execPath, [join(here, 'grpc-server.js')]);
  const session = http2.connect(`http://127.0.0.1:${server.port}`);
  await new Promise((r) => session.once('remoteSettings', r));
  const h2Call = (done: () => void) => {
    const s = session.request({ ':method': 'POST', ':path': METHOD, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '5000m' });
    let status: unknown;
    s.on('response', () => undefined);
    s.on('data', () => undefined);
    s.on('trailers', (t) => { status = t['grpc-status']; });
    s.on('close', () => { if (status !== '0') throw new Error(`node:http2 call ended without grpc-status 0 (${String(status)})`); done(); });
    s.end(EMPTY);
  };
  const client = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
  const id = (b: Buffer) => b;
  const grpcJsCall = (done: () => void) => {
    client.makeUnaryRequest(METHOD, id, id, Buffer.alloc(0), (err) => { if (err) throw err; done(); });
  };
  const framed = await handFramed(server.port);
  const channel = (client: 'gateway' | 'node') => {
    const ch = grpcChannel(`grpc://127.0.0.1:${server.port}`, undefined, 4 << 20, undefined, { ...DEFAULT_H2, client });
    const call = (done: () => void) => {
      ch.call(METHOD, new Uint8Array(0), [], Date.now() + 5000, {
        onHeaders: () => undefined, onMessage: () => undefined,
        onEnd: (st) => { if (st.code !== 0) throw new Error(`gateway channel (${client}): status ${st.code} ${st.details}`); done(); },
      });
    };
    return { ch, call };
  };
  const own = channel('gateway'), viaNode = channel('node');
  const runs = { 'node:http2': [] as number[], 'grpc-js': [] as number[], 'hand-framed': [] as number[], 'gateway channel, own framing': [] as number[], 'gateway channel, node:http2': [] as number[] };
  try {
    await cpuPerCall(h2Call); // warm-up, each
    await cpuPerCall(grpcJsCall);
    await cpuPerCall(framed.call);
    await cpuPerCall(own.call);
    await cpuPerCall(viaNode.call);
    for (let r = 0; r < ROUNDS; r++) {
      runs['node:http2'].push(await cpuPerCall(h2Call));
      runs['grpc-js'].push(await cpuPerCall(grpcJsCall));
      runs['hand-framed'].push(await cpuPerCall(framed.call));
      runs['gateway channel, own framing'].push(await cpuPerCall(own.call));
      runs['gateway channel, node:http2'].push(await cpuPerCall(viaNode.call));
    }
  } finally {
    session.close();
    client.close();
    framed.close();
    own.ch.close();
    viaNode.ch.close();
    await server.stop();
  }
  const report = {
    date: new Date().toISOString(),
    calls: CALLS, rounds: ROUNDS, inFlight: IN_FLIGHT, method: METHOD,
    cpuUsPerCall: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, +median(v).toFixed(1)])),
    perRound: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v.map((x) => +x.toFixed(1))])),
  };
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(join(root, 'bench', 'results', 'grpc-unary-cost.json'), JSON.stringify(report, null, 2) + '\n');
  log(JSON.stringify(report, null, 2));
}

main().catch((e) => { console.error(e); process.exit(1); });
