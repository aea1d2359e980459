// Policies on transcoding routes run as on any route (auth before the call, the identity
// as gRPC metadata, rate-limit headers on the answer), and a client-streaming method takes
// only NDJSON (415 otherwise, before any call) — both engines.
import t from 'tap';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { request } from './helpers/client.js';
import { startCatalogServer, PROTO_DIR } from '../src/demo/catalog-service.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures');

for (const engine of ENGINES) {
  t.test(`${engine} engine`, async (t) => {
    const grpcServer = await startCatalogServer();
    const gw = await startGatewayProcess({
      consumers: [{ id: 'app', keys: [{ key: 'app-key-123456' }] }],
      auth: { keys: { type: 'api-key' } },
      upstreams: {
        catalog: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${grpcServer.port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] } },
        uploads: { protocol: 'grpc', targets: [{ url: 'grpc://127.0.0.1:1' }], protos: { files: ['demo/uploads.proto'], includeDirs: [PROTO_DIR, join(FIXTURES, 'protos-stream')] } },
      },
      routes: [
        { name: 'uploads', match: { prefix: '/v1/uploads' }, transcode: { upstream: 'uploads' } },
        { name: 'catalog', auth: ['keys'], rateLimit: [{ key: ['consumer'], rate: 100, per: 'minute' }], transcode: { upstream: 'catalog' } },
      ],
    }, engine);
    t.teardown(async () => { await gw.stop(); await grpcServer.close(); });

    await t.test('auth runs before the call; the identity goes as metadata', async (t) => {
      const calls = grpcServer.calls.length;
      const anon = await request(`${gw.url}/v1/echo`, { method: 'POST', body: '{"text":"x"}' });
      t.equal(anon.status, 401);
      t.match(anon.headers['www-authenticate'], /ApiKey/);
      const wrong = await request(`${gw.url}/v1/echo`, { method: 'POST', body: '{"text":"x"}', headers: { 'x-api-key': 'not-a-key-000' } });
      t.equal(wrong.status, 401);
      t.equal(grpcServer.calls.length, calls, 'refused calls never reached the gRPC server');
      const ok = await request(`${gw.url}/v1/echo`, { method: 'POST', body: '{"text":"x"}', headers: { 'x-api-key': 'app-key-123456', 'x-consumer-id': 'forged' } });
      t.equal(ok.status, 200);
      t.equal(ok.headers['grpc-metadata-echo-x-consumer-id'], 'app', 'the gateway\'s identity, not the client\'s copy');
      t.match(ok.headers.ratelimit, /limit=100, remaining=99/, 'the rate-limit headers are on the transcoded answer');
    });

    await t.test('a client-streaming method: NDJSON only (415), and an unreachable upstream is a 503', async (t) => {
      const r = await request(`${gw.url}/v1/uploads`, { method: 'POST', body: '{"data":"AAAA"}' });
      t.equal(r.status, 415);
      t.equal(r.json.error.code, 'unsupported_media_type');
      t.match(r.json.error.message, /client-streaming method takes newline-delimited JSON/);
      const down = await request(`${gw.url}/v1/uploads`, { method: 'POST', body: '{"data":"AAAA"}\n', headers: { 'content-type': 'application/x-ndjson' } });
      t.equal(down.status, 503, 'the upload target (nothing listens): UNAVAILABLE');
    });
  });
}
