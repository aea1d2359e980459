// threads: N front-end threads on one port (uws engine): the kernel spreads connections
// over the threads; rate limits and quotas are exact across them (one SharedArrayBuffer);
// reload and graceful shutdown reach every thread.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { startGatewayProcess } from './helpers/gateway-process.js';
import { startUpstream } from './helpers/upstream.js';
import { request } from './helpers/client.js';

t.test('two front-end threads', async (t) => {
  const up = await startUpstream((req, res) => {
    const delay = req.url?.startsWith('/slow') ? 600 : 0;
    setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'), delay);
  });
  const config = {
    threads: 2,
    plans: { tiny: { quota: { requests: 10, per: 'day' } } },
    consumers: [{ id: 'tina', plan: 'tiny', keys: [{ key: 'tina-key-123' }] }],
    auth: { keys: { type: 'api-key' } },
    upstreams: { up: { targets: [{ url: up.url }] } },
    routes: [
      { name: 'limited', match: { prefix: '/limited' }, upstream: 'up', rateLimit: [{ key: ['route'], rate: 20, per: 'hour', burst: 20 }] },
      { name: 'quota', match: { prefix: '/quota' }, upstream: 'up', auth: ['keys'] },
      { name: 'open', match: { prefix: '/' }, upstream: 'up' },
    ],
  };
  const gw = await startGatewayProcess(config, 'uws');
  t.teardown(async () => { await gw.stop(); await up.close(); });
  const many = async (n: number, path: string, headers: Record<string, string> = {}) => {
    const statuses: number[] = [];
    // fresh connections (the helper uses agent: false), several at once
    for (let i = 0; i < n; i += 10) statuses.push(...(await Promise.all(Array.from({ length: Math.min(10, n - i) }, async () => (await request(`${gw.url}${path}`, { headers })).status))));
    return statuses;
  };

  await t.test('both threads serve; the admin API merges their state', async (t) => {
    t.equal(gw.info.threads, 2);
    const statuses = await many(60, '/hello');
    t.same([...new Set(statuses)], [200]);
    const health = await request(`${gw.adminUrl}/admin/health`);
    t.equal(health.json.threads, 2);
    const target = (await request(`${gw.adminUrl}/admin/upstreams`)).json.up.targets[0];
    t.equal(target.requests, 60, 'requests summed over the threads');
    t.equal(target.requestsByThread.length, 2);
    t.ok(target.requestsByThread.every((n: number) => n > 0), `connections spread over both threads: ${target.requestsByThread.join(' + ')}`);
  });

  await t.test('one rate limit across threads: exactly the burst is admitted', async (t) => {
    const statuses = await many(60, '/limited');
    t.equal(statuses.filter((s) => s === 200).length, 20);
    t.equal(statuses.filter((s) => s === 429).length, 40);
  });

  await t.test('one quota across threads, and the usage endpoint sees it', async (t) => {
    const statuses = await many(30, '/quota', { 'x-api-key': 'tina-key-123' });
    t.equal(statuses.filter((s) => s === 200).length, 10);
    t.equal(statuses.filter((s) => s === 429).length, 20);
    t.equal((await request(`${gw.adminUrl}/admin/consumers/tina/usage`)).json.used, 10);
  });

  await t.test('a reload reaches every thread', async (t) => {
    const next = { ...config, routes: [{ name: 'new', match: { prefix: '/new' }, upstream: 'up', responseHeaders: { add: { 'x-new': 'yes' } } }, ...config.routes] };
    writeFileSync(gw.configFile, stringify({ ...next, listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, engine: 'uws' }));
    const r = await request(`${gw.adminUrl}/admin/reload`, { method: 'POST' });
    t.equal(r.status, 200);
    const seen = await Promise.all(Array.from({ length: 30 }, async () => (await request(`${gw.url}/new`)).headers['x-new']));
    t.same([...new Set(seen)], ['yes'], 'every connection, whichever thread took it, sees the new route');
  });

  await t.test('SIGTERM: requests in flight on every thread finish, then the process exits 0', async (t) => {
    const inflight = Array.from({ length: 12 }, () => request(`${gw.url}/slow`).then((r) => r.status, () => 0));
    await new Promise((r) => setTimeout(r, 200));
    const code = gw.stop();
    t.same(await Promise.all(inflight), Array(12).fill(200));
    t.equal(await code, 0);
    t.match(gw.output(), /"stopped"/);
  });
});

t.test('the node engine runs one thread whatever workers says', async (t) => {
  const up = await startUpstream();
  const gw = await startGatewayProcess({ threads: 2, upstreams: { up: { targets: [{ url: up.url }] } }, routes: [{ match: { prefix: '/' }, upstream: 'up' }] }, 'node');
  t.teardown(async () => { await gw.stop(); await up.close(); });
  t.equal(gw.info.threads, 1);
  t.match(gw.output(), /node engine runs one front-end thread/);
  t.equal((await request(`${gw.url}/x`)).status, 200);
});

t.test('an exception that escapes in a front-end thread is logged; the thread keeps serving', async (t) => {
  const up = await startUpstream();
  const gw = await startGatewayProcess({
    threads: 2,
    upstreams: { up: { targets: [{ url: up.url }] } },
    routes: [{ match: { prefix: '/' }, upstream: 'up' }],
  }, 'uws', { GATEWAY_TEST_THREAD_THROW_MS: '300' });
  t.teardown(async () => { await gw.stop(); await up.close(); });
  await new Promise((r) => setTimeout(r, 1000));
  t.match(gw.output(), /uncaught exception in a front-end thread; still serving/, 'the escaped exception is logged');
  t.match(gw.output(), /injected fault/);
  const health = await request(`${gw.adminUrl}/admin/health`);
  t.equal(health.status, 200, 'both threads answer the admin query');
  t.equal(health.json.threads, 2);
  let ok = 0;
  for (let i = 0; i < 40; i++) if ((await request(`${gw.url}/x${i}`)).status === 200) ok++;
  t.equal(ok, 40, 'requests are served');
  t.equal((await request(`${gw.adminUrl}/admin/reload`, { method: 'POST' })).status, 200, 'a reload reaches both threads');
  t.equal(gw.proc.exitCode, null, 'the process lives');
  t.notMatch(gw.output(), /died|Assertion failed/);
});
