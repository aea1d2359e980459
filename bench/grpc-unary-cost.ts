// npm run bench:grpc-unary-cost: the client-side CPU of one unary gRPC call, what every
// transcoded request and every gRPC backend of an aggregate pays at least. Calls to the
// bench gRPC server (Catalog.Echo, an empty request; the server pinned to the load core),
// 50 in flight, on
//   node:http2   a bare request per call on one session (request, end, response, data,
//                trailers, close: the floor of any client built on node:http2, the gateway's too)
//   grpc-js      @grpc/grpc-js's makeUnaryRequest (the library the gateway does not use)
// Reported: CPU µs per call of this process (all its threads), median of rounds.
import http2 from 'node:http2';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import grpc from '@grpc/grpc-js';
import { startProc } from './processes.js';
import { LOAD_CORE } from './load-runner.js';
import { here, root, log } from './scenario-settings.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const IN_FLIGHT = 50;
const METHOD = '/demo.catalog.v1.Catalog/Echo';
const EMPTY = Buffer.from([0, 0, 0, 0, 0]); // an uncompressed, empty message
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Runs `call` CALLS times with IN_FLIGHT at once; CPU µs per call. */
async function cpuPerCall(call: (done: () => void) => void): Promise<number> {
  const c0 = process.cpuUsage();
  await new Promise<void>((resolve) => {
    let started = 0, finished = 0;
    const next = () => {
      if (started === CALLS) { if (finished === CALLS) resolve(); return; }
      started++;
      call(() => { finished++; next(); });
    };
    for (let i = 0; i < IN_FLIGHT; i++) next();
  });
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / CALLS;
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
  const runs = { 'node:http2': [] as number[], 'grpc-js': [] as number[] };
  try {
    await cpuPerCall(h2Call); // warm-up, both
    await cpuPerCall(grpcJsCall);
    for (let r = 0; r < ROUNDS; r++) {
      runs['node:http2'].push(await cpuPerCall(h2Call));
      runs['grpc-js'].push(await cpuPerCall(grpcJsCall));
    }
  } finally {
    session.close();
    client.close();
    await server.stop();
  }
  const report = {
    date: new Date().toISOString(),
    calls: CALLS, rounds: ROUNDS, inFlight: IN_FLIGHT, method: METHOD,
    cpuUsPerCall: { 'node:http2': +median(runs['node:http2']).toFixed(1), 'grpc-js': +median(runs['grpc-js']).toFixed(1) },
    perRound: { 'node:http2': runs['node:http2'].map((x) => +x.toFixed(1)), 'grpc-js': runs['grpc-js'].map((x) => +x.toFixed(1)) },
  };
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(join(root, 'bench', 'results', 'grpc-unary-cost.json'), JSON.stringify(report, null, 2) + '\n');
  log(JSON.stringify(report, null, 2));
}

main().catch((e) => { console.error(e); process.exit(1); });
