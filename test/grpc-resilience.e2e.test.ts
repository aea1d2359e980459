// gRPC upstreams are kept healthy like HTTP ones: passive outlier ejection on UNAVAILABLE
// (one ejection for the whole process, whichever pool worker saw the failures), retries of
// UNAVAILABLE to another target (idempotent methods by default, configured codes for all),
// "no healthy upstream target" when every target is out, and active health checks with
// grpc.health.v1.Health/Check — against real grpc-js servers, and a port nothing listens on.
import t from 'tap';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { ENGINES, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.js';
import { request } from './helpers/client.js';
import { startCatalogServer, PROTO_DIR, type CatalogServer } from '../src/demo/catalog-service.js';
import { ConfigError, parseConfig } from '../src/config/load.js';

const protos = { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] };

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Target { url: string; health: string; ejections: number; requests: number; failures: number; consecutiveFailures: number }
async function targetsOf(gw: GatewayProcess, upstream = 'catalog'): Promise<Target[]> {
  const r = await request(`${gw.adminUrl}/admin/upstreams`);
  return r.json[upstream].targets as Target[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) { if (await check()) return; await sleep(50); }
  throw new Error(`timed out waiting for ${what}`);
}

const getBook = (gw: GatewayProcess) => request(`${gw.url}/v1/shelves/classics/books/1`);
const createBook = (gw: GatewayProcess) => request(`${gw.url}/v1/shelves/classics/books`, { method: 'POST', body: '{"title":"T","isbn":"1"}', headers: { 'content-type': 'application/json' } });

t.test('outlier ejection, retries and no healthy target', async (t) => {
  const live = await startCatalogServer();
  t.teardown(() => live.close());
  const dead = `grpc://127.0.0.1:${await closedPort()}`;
  const liveUrl = `grpc://127.0.0.1:${live.port}`;
  const upstream = (targets: string[], outlier: Record<string, unknown>) => ({ protocol: 'grpc', protos, targets: targets.map((url) => ({ url })), outlier });
  for (const engine of ENGINES) {
    await t.test(`${engine} engine: a dead target is ejected once for the whole pool; GETs are retried to the live one`, async (t) => {
      const gw = await startGatewayProcess({
        transcoding: { workers: 2 },
        upstreams: { catalog: upstream([liveUrl, dead], { consecutiveFailures: 2, baseEjectionMs: 30_000, maxEjectionPercent: 50 }) },
        // no grpcCodes: UNAVAILABLE, idempotent methods only (a GET binding is)
        routes: [{ name: 'catalog', transcode: { upstream: 'catalog' }, retry: { attempts: 1, budgetPercent: 100 } }],
      }, engine);
      t.teardown(() => gw.stop());
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) statuses.push((await getBook(gw)).status);
      t.same(statuses, Array(20).fill(200), 'every GET answered: UNAVAILABLE was retried on the live target');
      const [a, b] = await targetsOf(gw);
      t.equal(b!.url, dead);
      t.equal(b!.health, 'ejected');
      t.equal(b!.ejections, 1, 'one ejection, though two workers saw failures');
      t.equal(b!.requests, 2, 'the dead target got exactly consecutiveFailures calls, then none');
      t.equal(b!.failures, 2);
      t.equal(a!.health, 'healthy');
      t.equal(a!.requests, 20, 'the live target answered every request');
      const metrics = (await request(`${gw.adminUrl}/metrics`)).body;
      const deadHost = dead.slice('grpc://'.length).replace(/\./g, '\\.');
      t.match(metrics, new RegExp(`gateway_upstream_target_ejections_total\\{upstream="catalog",target="${deadHost}"\\} 1\n`), 'the ejection is counted');
      t.match(metrics, new RegExp(`gateway_upstream_target_health\\{upstream="catalog",target="${deadHost}"\\} 0\n`), 'and the target reported out');
    });
  }

  await t.test('a POST (not idempotent) is not retried unless the route lists grpcCodes', async (t) => {
    const off = { enabled: false };
    // one worker: its round-robin alternates live, dead, live, ...
    const plain = await startGatewayProcess({ transcoding: { workers: 1 }, upstreams: { catalog: upstream([liveUrl, dead], off) }, routes: [{ name: 'catalog', transcode: { upstream: 'catalog' }, retry: { attempts: 1, budgetPercent: 100 } }] }, 'node');
    t.teardown(() => plain.stop());
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await createBook(plain));
    t.same(answers.map((r) => r.status).sort(), [200, 200, 200, 503, 503, 503], 'round-robin: every other POST met the dead target and failed');
    t.equal(answers.find((r) => r.status === 503)!.json.code, 14, 'as UNAVAILABLE');
    const gets = [];
    for (let i = 0; i < 6; i++) gets.push((await getBook(plain)).status);
    t.same(gets, Array(6).fill(200), 'GETs are retried');

    const retried = await startGatewayProcess({ transcoding: { workers: 1 }, upstreams: { catalog: upstream([liveUrl, dead], off) }, routes: [{ name: 'catalog', transcode: { upstream: 'catalog' }, retry: { attempts: 1, grpcCodes: ['UNAVAILABLE'], budgetPercent: 100 } }] }, 'node');
    t.teardown(() => retried.stop());
    const posts = [];
    for (let i = 0; i < 6; i++) posts.push((await createBook(retried)).status);
    t.same(posts, Array(6).fill(200), 'with retry.grpcCodes every method is retried');
  });

  await t.test('the retry budget stops retries from multiplying an outage', async (t) => {
    const gw = await startGatewayProcess({ upstreams: { catalog: upstream([dead, `grpc://127.0.0.1:${await closedPort()}`], { enabled: false }) }, routes: [{ name: 'catalog', transcode: { upstream: 'catalog' }, retry: { attempts: 3, grpcCodes: ['UNAVAILABLE'], budgetPercent: 10, backoffMs: 1 } }] }, 'node');
    t.teardown(() => gw.stop());
    for (let i = 0; i < 30; i++) t.equal((await getBook(gw)).status, 503);
    const calls = (await targetsOf(gw)).reduce((n, x) => n + x.requests, 0);
    t.ok(calls <= 30 + 1 + 3 + 3, `retries stayed near 10% of 30 requests plus the first token: ${calls} calls`);
    t.ok(calls > 30, 'some were retried');
  });

  await t.test('every target out: 503 "no healthy upstream target" without calling', async (t) => {
    const gw = await startGatewayProcess({ upstreams: { catalog: upstream([dead], { consecutiveFailures: 1, maxEjectionPercent: 100, baseEjectionMs: 30_000 }) }, routes: [{ name: 'catalog', transcode: { upstream: 'catalog' } }] }, 'node');
    t.teardown(() => gw.stop());
    t.equal((await getBook(gw)).status, 503, 'the first call fails on the dead target');
    const again = await getBook(gw);
    t.equal(again.status, 503);
    t.equal(again.json.message, 'no healthy upstream target');
    t.equal((await targetsOf(gw))[0]!.requests, 1, 'the ejected target was not called again');
  });
});

t.test('the circuit breaker: one for the pool, open, half-open, closed', async (t) => {
  const port = await closedPort();
  const gw = await startGatewayProcess({
    transcoding: { workers: 2 },
    upstreams: { catalog: { protocol: 'grpc', protos, targets: [{ url: `grpc://127.0.0.1:${port}` }], outlier: { enabled: false }, breaker: { failureRatio: 0.5, windowMs: 10_000, minRequests: 4, openMs: 1500, halfOpenRequests: 1 } } },
    routes: [{ name: 'catalog', transcode: { upstream: 'catalog' }, retry: { attempts: 0 } }],
  }, 'node');
  t.teardown(() => gw.stop());
  for (let i = 0; i < 4; i++) t.equal((await getBook(gw)).status, 503, 'UNAVAILABLE while nothing listens');
  const calls = (await targetsOf(gw))[0]!.requests;
  t.equal(calls, 4);
  const refused = [];
  for (let i = 0; i < 10; i++) refused.push(await getBook(gw));
  t.same(refused.map((r) => r.json.message), Array(10).fill('the circuit breaker of upstream "catalog" is open'), 'open for every worker at once');
  t.ok(Number(refused[0]!.headers['retry-after']) >= 1, 'with Retry-After');
  t.equal((await targetsOf(gw))[0]!.requests, calls, 'no call reached the target while open');
  const status = await request(`${gw.adminUrl}/admin/upstreams`);
  t.equal(status.json.catalog.breaker, 'open');
  t.match((await request(`${gw.adminUrl}/metrics`)).body, /gateway_circuit_breaker_state\{upstream="catalog"\} 2\n/);
  const server = await startCatalogServer(port);
  t.teardown(() => server.close());
  await sleep(1600);
  const probe = await getBook(gw);
  t.equal(probe.status, 200, `the half-open probe reached the server that came back: ${probe.body}`);
  for (let i = 0; i < 5; i++) t.equal((await getBook(gw)).status, 200, 'closed again');
  t.equal((await request(`${gw.adminUrl}/admin/upstreams`)).json.catalog.breaker, 'closed');
});

t.test('HTTP/2 sessions: a stream cap per session, keepalive pings, reconnect backoff', async (t) => {
  const server = await startCatalogServer();
  t.teardown(() => server.close());

  await t.test('maxConcurrentStreams opens more sessions, up to maxSessions', async (t) => {
    // A TCP relay in front of the server counts the connections the gateway opens.
    let connections = 0;
    const relay = net.createServer((c) => { connections++; const up = net.connect(server.port, '127.0.0.1'); c.pipe(up).pipe(c); c.on('error', () => up.destroy()); up.on('error', () => c.destroy()); });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    t.teardown(() => relay.close());
    const gw = await startGatewayProcess({
      transcoding: { workers: 1 },
      upstreams: { catalog: { protocol: 'grpc', protos, targets: [{ url: `grpc://127.0.0.1:${(relay.address() as net.AddressInfo).port}` }], http2: { maxConcurrentStreams: 1, maxSessions: 3 } } },
      routes: [{ name: 'catalog', transcode: { upstream: 'catalog' } }],
    }, 'node');
    t.teardown(() => gw.stop());
    // the demo server holds a "/slow" book for 3 s: three at once need three sessions
    const slow = () => request(`${gw.url}/v1/shelves/classics/books/slow`);
    const first = await Promise.all([slow(), slow(), slow()]);
    t.same(first.map((r) => r.status), [200, 200, 200]);
    t.equal(connections, 3, 'one stream per session: three sessions');
    const more = await Promise.all([slow(), slow(), slow(), slow(), slow()]);
    t.same(more.map((r) => r.status), [200, 200, 200, 200, 200], 'beyond maxSessions the calls share sessions');
    t.equal(connections, 3, 'and no more than maxSessions are opened');
  });

  await t.test('keepalive: a peer that stops answering ends the call UNAVAILABLE, not at its deadline', async (t) => {
    // A relay that can turn into a black hole: the connection stays open, nothing passes.
    let hole = false;
    const relay = net.createServer((c) => {
      const up = net.connect(server.port, '127.0.0.1');
      c.on('data', (d) => { if (!hole) up.write(d); });
      up.on('data', (d) => { if (!hole) c.write(d); });
      c.on('error', () => up.destroy()); up.on('error', () => c.destroy());
      c.on('close', () => up.destroy()); up.on('close', () => c.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    t.teardown(() => relay.close());
    const url = `grpc://127.0.0.1:${(relay.address() as net.AddressInfo).port}`;
    for (const keepalive of [true, false]) {
      hole = false;
      const gw = await startGatewayProcess({
        transcoding: { workers: 1 },
        upstreams: { catalog: { protocol: 'grpc', protos, targets: [{ url }], ...(keepalive ? { http2: { keepaliveMs: 200, keepaliveTimeoutMs: 300 } } : {}) } },
        routes: [{ name: 'catalog', transcode: { upstream: 'catalog' }, timeoutMs: 4000, retry: { attempts: 0 } }],
      }, 'node');
      t.equal((await getBook(gw)).status, 200, 'through the relay');
      hole = true;
      const started = Date.now();
      const r = await getBook(gw);
      const took = Date.now() - started;
      if (keepalive) {
        t.equal(r.status, 503, `keepalive: UNAVAILABLE (${r.body})`);
        t.ok(took < 2500, `after the ping timeout, not the 4 s deadline (${took} ms)`);
      } else {
        t.equal(r.status, 504, 'without keepalive the call waits for its deadline');
        t.ok(took >= 3500, `${took} ms`);
      }
      await gw.stop();
    }
  });

  await t.test('a peer that accepts and drops connections is retried with backoff', async (t) => {
    let connections = 0;
    const dropper = net.createServer((c) => { connections++; c.destroy(); });
    await new Promise<void>((r) => dropper.listen(0, '127.0.0.1', r));
    t.teardown(() => dropper.close());
    const gw = await startGatewayProcess({
      transcoding: { workers: 1 },
      upstreams: { catalog: { protocol: 'grpc', protos, targets: [{ url: `grpc://127.0.0.1:${(dropper.address() as net.AddressInfo).port}` }], outlier: { enabled: false } } },
      routes: [{ name: 'catalog', transcode: { upstream: 'catalog' }, retry: { attempts: 0 } }],
    }, 'node');
    t.teardown(() => gw.stop());
    const started = Date.now();
    for (let i = 0; i < 20; i++) t.equal((await getBook(gw)).status, 503);
    const took = Date.now() - started;
    t.ok(connections < 20, `${connections} connection attempts for 20 calls in ${took} ms`);
    t.ok(connections >= 1);
  });
});

/** A catalog server whose grpc.health.v1.Health says what `serving` says (per service name). */
async function withHealth(): Promise<{ server: CatalogServer; serving: Map<string, boolean>; asked: string[] }> {
  const types = protobuf.Root.fromJSON({ nested: { Req: { fields: { service: { type: 'string', id: 1 } } }, Res: { fields: { status: { type: 'int32', id: 1 } } } } });
  const Req = types.lookupType('Req');
  const Res = types.lookupType('Res');
  const serving = new Map<string, boolean>([['', true], ['demo.catalog.v1.Catalog', true]]);
  const asked: string[] = [];
  const id = (b: Buffer) => b;
  const server = await startCatalogServer(0, undefined, (s) => s.addService({
    Check: { path: '/grpc.health.v1.Health/Check', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
  } as grpc.ServiceDefinition, {
    Check: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const service = (Req.decode(call.request) as unknown as { service: string }).service;
      asked.push(service);
      const on = serving.get(service);
      if (on === undefined) { cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' }); return; }
      cb(null, Buffer.from(Res.encode({ status: on ? 1 : 2 }).finish()));
    },
  }));
  return { server, serving, asked };
}

t.test('active health checks with grpc.health.v1', async (t) => {
  const a = await withHealth();
  const b = await withHealth();
  t.teardown(() => Promise.all([a.server.close(), b.server.close()]));
  for (const engine of ENGINES) {
    await t.test(`${engine} engine`, async (t) => {
      b.serving.set('demo.catalog.v1.Catalog', true);
      const gw = await startGatewayProcess({
        transcoding: { workers: 2 },
        upstreams: { catalog: { protocol: 'grpc', protos, targets: [{ url: `grpc://127.0.0.1:${a.server.port}` }, { url: `grpc://127.0.0.1:${b.server.port}` }], healthCheck: { service: 'demo.catalog.v1.Catalog', intervalMs: 100, timeoutMs: 500, unhealthyThreshold: 2, healthyThreshold: 2 } } },
        routes: [{ name: 'catalog', transcode: { upstream: 'catalog' } }],
      }, engine);
      t.teardown(() => gw.stop());
      await waitFor('checks', async () => b.asked.length > 0);
      t.equal(b.asked.at(-1), 'demo.catalog.v1.Catalog', 'the configured service name is asked about');
      b.serving.set('demo.catalog.v1.Catalog', false);
      await waitFor('b unhealthy', async () => (await targetsOf(gw))[1]!.health === 'unhealthy');
      const before = b.server.calls.length;
      for (let i = 0; i < 10; i++) t.equal((await getBook(gw)).status, 200);
      t.equal(b.server.calls.length, before, 'a NOT_SERVING target gets no calls');
      b.serving.set('demo.catalog.v1.Catalog', true);
      await waitFor('b healthy', async () => (await targetsOf(gw))[1]!.health === 'healthy');
      for (let i = 0; i < 10; i++) await getBook(gw);
      t.ok(b.server.calls.length > before, 'back in the rotation once SERVING again');
    });
  }
});

t.test('config problems', async (t) => {
  const problems = (yaml: string): string[] => {
    try { parseConfig(yaml, 'test'); return []; } catch (e) { return (e as ConfigError).problems; }
  };
  t.same(problems(`
upstreams:
  g: { protocol: grpc, protos: { files: [demo/catalog.proto], includeDirs: [${JSON.stringify(PROTO_DIR)}] }, targets: [ { url: "grpc://127.0.0.1:1" } ], healthCheck: { path: /health } }
  h: { targets: [ { url: "http://127.0.0.1:1" } ], healthCheck: { service: x } }
routes:
  - { name: g, transcode: { upstream: g } }
  - { name: h, match: { prefix: /h }, upstream: h, retry: { grpcCodes: [UNAVAILABLE] } }
`), [
    'upstreams.g.healthCheck.path: grpc upstreams are checked with grpc.health.v1 (give service, not path)',
    'upstreams.h.healthCheck.path: required (the path to GET)',
    'upstreams.h.healthCheck.service: only for grpc upstreams',
    'routes[1].retry.grpcCodes: only for transcoding routes',
  ]);
});
