// The proto3 JSON mapping against protobuf's own conformance cases (the JSON ones that apply
// to a proto3 request body; test/fixtures/conformance/json-cases.json lists each case by the
// suite's name, and what is skipped and why). Each case goes through the gateway to a real
// grpc-js server that echoes the request bytes, so both directions are checked: a valid
// input must come back as the expected JSON, an invalid one must be a 400 that never
// reached the server. Cases where the gateway deviates on purpose are marked and asserted as
// what it does.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { request } from './helpers/client.js';
import { PROTO_DIR } from '../src/demo/catalog-service.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'conformance');
interface Case { name: string; level: string; input: string; expect: 'reject' | Record<string, unknown>; deviation?: string }
const corpus = JSON.parse(readFileSync(join(DIR, 'json-cases.json'), 'utf8')) as { cases: Case[]; skipped: Record<string, string> };

/** Equal as JSON values, floats compared at float32 precision for *Float* fields (the wire holds a float32). */
function same(a: unknown, b: unknown, key = ''): boolean {
  if (typeof a === 'number' && typeof b === 'number') return /float/i.test(key) ? Math.fround(a) === Math.fround(b) : a === b;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i], key));
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], k));
  }
  return a === b;
}

t.test('proto3 JSON conformance cases, through the gateway', async (t) => {
  let calls = 0;
  const server = new grpc.Server();
  const id = (b: Buffer) => b;
  server.addService({
    Echo: { path: '/gateway.conformance.v1.Conformance/Echo', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
  } as grpc.ServiceDefinition, { Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => { calls++; cb(null, call.request); } });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  t.teardown(() => new Promise<void>((r) => server.tryShutdown(() => r())));
  t.ok(corpus.cases.length >= 200, `${corpus.cases.length} cases; skipped groups: ${Object.keys(corpus.skipped).length}`);

  for (const engine of ENGINES) {
    await t.test(`${engine} engine`, async (t) => {
      const gw = await startGatewayProcess({
        upstreams: { conformance: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${port}` }], protos: { files: ['conformance.proto'], includeDirs: [DIR, PROTO_DIR] } } },
        routes: [{ name: 'conformance', transcode: { upstream: 'conformance' } }],
      }, engine);
      t.teardown(() => gw.stop());
      const failures: string[] = [];
      for (const c of corpus.cases) {
        const before = calls;
        const r = await request(`${gw.url}/echo`, { method: 'POST', body: Buffer.from(c.input, 'utf8'), headers: { 'content-type': 'application/json' } });
        const label = `${c.level}.Proto3.JsonInput.${c.name}${c.deviation ? ' (deviation)' : ''}`;
        if (c.expect === 'reject') {
          if (r.status !== 400 || calls !== before) failures.push(`${label}: expected a 400 before the server, got ${r.status} ${r.body.slice(0, 200)}`);
        } else if (r.status !== 200 || !same(r.json, c.expect)) {
          failures.push(`${label}: expected ${JSON.stringify(c.expect)}, got ${r.status} ${r.body.slice(0, 200)}`);
        }
      }
      t.same(failures, [], `every case answers as expected (${corpus.cases.length} cases)`);
    });
  }
});
