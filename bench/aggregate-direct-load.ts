// The baseline for aggregation: a client that makes the three backend calls itself, in
// parallel, over keep-alive (two HTTP GETs with node:http, one gRPC call with grpc-js),
// `inFlight` of those trios at a time for `seconds`. It parses each answer, as the client
// of an aggregate would have to. Prints {rps (trios/s), trio and per-call p50/p99 in ms}.
import http from 'node:http';
import grpc from '@grpc/grpc-js';
import { loadProtos } from '../src/transcode/proto-registry.js';
import { PROTO_DIR } from '../src/demo/catalog-service.js';
import { aggregateEchoRequest } from './transcode-payloads.js';
import { toProtoObject } from '../src/transcode/json-codec.js';

const [httpPort, grpcPort, inFlight, seconds] = [Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4] ?? 50), Number(process.argv[5] ?? 8)];
const agent = new http.Agent({ keepAlive: true, maxSockets: inFlight * 2 });
const root = loadProtos({ files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] }, '.');
const T = root.lookupType('demo.catalog.v1.Everything');
const payload = toProtoObject(T, aggregateEchoRequest(), { root });
const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());

const get = (host: string): Promise<number> => new Promise((resolve, reject) => {
  const t0 = performance.now();
  http.get({ host, port: httpPort, path: '/kb', agent }, (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => { JSON.parse(Buffer.concat(chunks).toString('utf8')); resolve(performance.now() - t0); });
  }).on('error', reject);
});

const call = (): Promise<number> => new Promise((resolve, reject) => {
  const t0 = performance.now();
  const bytes = Buffer.from(T.encode(T.fromObject(payload)).finish());
  client.makeUnaryRequest('/demo.catalog.v1.Catalog/Echo', (x: Buffer) => x, (x: Buffer) => x, bytes, new grpc.Metadata(), {}, (err, res) => {
    if (err) { reject(err); return; }
    T.toObject(T.decode(res!), { longs: String, enums: String });
    resolve(performance.now() - t0);
  });
});

const lat = { trio: [] as number[], a: [] as number[], b: [] as number[], grpc: [] as number[] };
let errors = 0;
const until = Date.now() + seconds * 1000;
const start = Date.now();
await Promise.all(Array.from({ length: inFlight }, async () => {
  while (Date.now() < until) {
    const t0 = performance.now();
    try {
      const [a, b, g] = await Promise.all([get('127.0.0.1'), get('127.0.0.2'), call()]);
      lat.trio.push(performance.now() - t0); lat.a.push(a); lat.b.push(b); lat.grpc.push(g);
    } catch { errors++; }
  }
}));
const elapsed = (Date.now() - start) / 1000;
const pct = (xs: number[], p: number) => { const s = [...xs].sort((x, y) => x - y); return +(s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? 0).toFixed(2); };
const summary = (xs: number[]) => ({ p50: pct(xs, 0.5), p99: pct(xs, 0.99) });
process.stdout.write(JSON.stringify({
  rps: lat.trio.length / elapsed, requests: lat.trio.length, errors,
  trio: summary(lat.trio), httpA: summary(lat.a), httpB: summary(lat.b), grpc: summary(lat.grpc),
}) + '\n');
process.exit(0);
