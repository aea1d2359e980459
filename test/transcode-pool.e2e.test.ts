// One transcoding pool per process: `transcoding.workers` workers in total whatever the
// number of front-end threads, its capacity shared by all of them, and kept across reloads
// (the same workers, the same HTTP/2 connections to the gRPC server, a new generation).
import t from 'tap';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { startGatewayProcess } from './helpers/gateway-process.js';
import { request } from './helpers/client.js';
import { startCatalogServer, PROTO_DIR } from '../src/demo/catalog-service.js';

/** A TCP relay in front of the gRPC server that counts the connections made through it. */
async function countingRelay(port: number): Promise<{ port: number; connections: () => number; close: () => void }> {
  let n = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((c) => {
    n++;
    const u = net.connect(port, '127.0.0.1');
    sockets.add(c); sockets.add(u);
    c.pipe(u).pipe(c);
    const end = () => { c.destroy(); u.destroy(); };
    c.on('error', end); u.on('error', end); c.on('close', end); u.on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, connections: () => n, close: () => { for (const s of sockets) s.destroy(); server.close(); } };
}

/** `timeoutMs`: short where a test waits for the deadline; generous elsewhere (a loaded CI machine's first call opens the connection and warms the worker) */
const catalog = (port: number, extra: Record<string, unknown> = {}, timeoutMs = 1000) => ({
  upstreams: { catalog: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] } } },
  routes: [{ name: 'catalog', timeoutMs, transcode: { upstream: 'catalog' } }],
  ...extra,
});

t.test('two front-end threads share one pool and its capacity', async (t) => {
  const grpcServer = await startCatalogServer();
  const gw = await startGatewayProcess({ ...catalog(grpcServer.port), threads: 2, transcoding: { workers: 1, concurrentTasksPerWorker: 1, maxQueue: 1, inlineBelowBytes: 0 } }, 'uws');
  t.teardown(async () => { await gw.stop(); await grpcServer.close(); });
  const health = await request(`${gw.adminUrl}/admin/health`);
  t.equal(health.json.threads, 2);
  t.equal(health.json.transcoding.workers, 1, 'transcoding.workers is the total, not per thread');
  // 8 slow calls on 8 connections (spread over both threads): the process holds 2 (1 running,
  // 1 queued); per-thread pools would hold 2 per thread.
  const replies = await Promise.all(Array.from({ length: 8 }, () => request(`${gw.url}/v1/shelves/s/books/slow`)));
  const refused = replies.filter((r) => r.status === 503);
  t.equal(refused.length, 6, `6 of 8 refused (${replies.map((r) => r.status)})`);
  t.ok(refused.every((r) => r.json.error.code === 'transcoding_saturated'));
  t.equal(replies.filter((r) => r.status === 504).length, 2, 'the two the pool held reach their deadline');
});

for (const threads of [1, 2]) {
  t.test(`a reload keeps the pool, its workers and their connections (${threads} thread(s))`, async (t) => {
    const grpcServer = await startCatalogServer();
    const relay = await countingRelay(grpcServer.port);
    t.teardown(async () => { relay.close(); await grpcServer.close(); });
    const gw = await startGatewayProcess({ ...catalog(relay.port, {}, 10_000), threads, transcoding: { workers: 1, inlineBelowBytes: 0 } }, 'uws');
    t.teardown(() => gw.stop());
    for (let i = 0; i < 3; i++) t.equal((await request(`${gw.url}/v1/shelves/classics/books/1`)).status, 200);
    const echo = () => request(`${gw.url}/v1/echo`, { method: 'POST', body: '{"text":"hi"}', headers: { 'x-tenant': 'acme' } });
    t.equal((await echo()).headers['grpc-metadata-echo-x-tenant'], undefined, 'x-tenant is not forwarded yet');
    const before = (await request(`${gw.adminUrl}/admin/health`)).json.transcoding;
    t.equal(relay.connections(), 1, 'one worker, one HTTP/2 connection');

    // a changed config: x-tenant becomes gRPC metadata
    const next = catalog(relay.port, { threads, transcoding: { workers: 1, inlineBelowBytes: 0 } }, 10_000);
    (next.routes[0] as Record<string, unknown>).transcode = { upstream: 'catalog', forwardHeaders: ['x-tenant'] };
    writeFileSync(gw.configFile, stringify({ ...next, listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, engine: 'uws' }));
    const reload = await request(`${gw.adminUrl}/admin/reload`, { method: 'POST' });
    t.equal(reload.status, 200, JSON.stringify(reload.json));
    const after = (await request(`${gw.adminUrl}/admin/health`)).json.transcoding;
    t.equal(after.workers, 1, 'the same pool size');
    t.equal(after.generation, before.generation + 1, 'the workers got the new configuration');
    t.equal((await echo()).headers['grpc-metadata-echo-x-tenant'], 'acme', 'served with the new config');
    for (let i = 0; i < 3; i++) t.equal((await request(`${gw.url}/v1/shelves/classics/books/1`)).status, 200);
    t.equal(relay.connections(), 1, 'the connection to the gRPC server survived the reload');
  });

  t.test(`inline calls (the default inlineBelowBytes) keep their front thread's connection across a reload (${threads} thread(s))`, async (t) => {
    const grpcServer = await startCatalogServer();
    const relay = await countingRelay(grpcServer.port);
    t.teardown(async () => { relay.close(); await grpcServer.close(); });
    const gw = await startGatewayProcess({ ...catalog(relay.port, {}, 10_000), threads, transcoding: { workers: 1 } }, 'uws');
    t.teardown(() => gw.stop());
    const echo = () => request(`${gw.url}/v1/echo`, { method: 'POST', body: '{"text":"hi"}', headers: { 'x-tenant': 'acme' } });
    for (let i = 0; i < 6; i++) t.equal((await echo()).status, 200);
    const opened = relay.connections();
    t.ok(opened >= 1 && opened <= threads, `one connection per front thread that served a call (${opened})`);
    const next = catalog(relay.port, { threads, transcoding: { workers: 1 } }, 10_000);
    (next.routes[0] as Record<string, unknown>).transcode = { upstream: 'catalog', forwardHeaders: ['x-tenant'] };
    writeFileSync(gw.configFile, stringify({ ...next, listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, engine: 'uws' }));
    t.equal((await request(`${gw.adminUrl}/admin/reload`, { method: 'POST' })).status, 200);
    t.equal((await echo()).headers['grpc-metadata-echo-x-tenant'], 'acme', 'served inline with the new config');
    for (let i = 0; i < 6; i++) t.equal((await echo()).status, 200);
    // a thread that served nothing before may open its first one now; a new one per reload would pass `threads`
    t.ok(relay.connections() >= opened && relay.connections() <= threads, `still one connection at most per front thread (${relay.connections()})`);
  });
}
