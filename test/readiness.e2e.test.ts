// Liveness and readiness for load balancers and Kubernetes probes: /admin/health answers
// when the process and every front-end thread do; /admin/ready is 503, with the reasons,
// while an upstream has no healthy target, and 200 again once it has.
import t from 'tap';
import http from 'node:http';
import type net from 'node:net';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { request } from './helpers/client.js';
import { freePort } from './helpers/upstream.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const engine of ENGINES) {
  for (const threads of engine === 'uws' ? [1, 2] : [1]) {
    t.test(`${engine} engine, ${threads} thread(s)`, async (t) => {
      let healthy = true;
      const up = http.createServer((req, res) => {
        if (req.url === '/health') { res.writeHead(healthy ? 200 : 500); res.end(); return; }
        res.end('ok');
      });
      await new Promise<void>((r) => up.listen(0, '127.0.0.1', () => r()));
      const url = `http://127.0.0.1:${(up.address() as net.AddressInfo).port}`;
      const gw = await startGatewayProcess({
        threads,
        upstreams: {
          checked: { targets: [{ url }], healthCheck: { path: '/health', intervalMs: 100, timeoutMs: 200, healthyThreshold: 1, unhealthyThreshold: 1 } },
          other: { targets: [{ url }] },
        },
        routes: [{ match: { prefix: '/a' }, upstream: 'checked' }, { match: { prefix: '/b' }, upstream: 'other' }],
      }, engine);
      t.teardown(async () => { await gw.stop(); up.closeAllConnections(); up.close(); });

      const live = await request(`${gw.adminUrl}/admin/health`);
      t.equal(live.status, 200);
      t.equal(live.json.status, 'ok');
      t.equal(live.json.threads, threads, 'every thread answered');

      await sleep(300);
      const ready = await request(`${gw.adminUrl}/admin/ready`);
      t.equal(ready.status, 200, JSON.stringify(ready.json));
      t.same(ready.json, { status: 'ready', reasons: [] });

      healthy = false;
      await sleep(400);
      const notReady = await request(`${gw.adminUrl}/admin/ready`);
      t.equal(notReady.status, 503);
      t.equal(notReady.json.status, 'not ready');
      t.same(notReady.json.reasons, ['upstream "checked" has no healthy target (unhealthy)'], 'the reason names the upstream');
      t.equal((await request(`${gw.adminUrl}/admin/health`)).status, 200, 'still live');

      healthy = true;
      await sleep(400);
      t.equal((await request(`${gw.adminUrl}/admin/ready`)).status, 200, 'ready again');
      t.equal((await request(`${gw.adminUrl}/admin/ready`, { headers: { origin: 'https://evil.example' } })).status, 403, 'the admin API\'s browser checks apply');
    });
  }
}

t.test('observability.status.listen: the probes without the admin token, and nothing else', async (t) => {
  const up = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(up.address() as net.AddressInfo).port}`;
  const statusPort = await freePort();
  const gw = await startGatewayProcess({
    admin: { host: '127.0.0.1', port: 0, token: 'a-long-admin-token-0123456789' },
    observability: { status: { listen: { host: '127.0.0.1', port: statusPort } } },
    upstreams: { a: { targets: [{ url }] } },
    routes: [{ match: { prefix: '/' }, upstream: 'a' }],
  }, 'uws');
  t.teardown(async () => { await gw.stop(); up.closeAllConnections(); up.close(); });
  t.equal(gw.info.statusPort, statusPort, 'the listening line names the port');
  const status = `http://127.0.0.1:${statusPort}`;
  t.equal((await request(`${gw.adminUrl}/admin/health`)).status, 401, 'the admin listener wants its token');
  const live = await request(`${status}/admin/health`);
  t.equal(live.status, 200);
  t.equal(live.json.status, 'ok');
  const ready = await request(`${status}/admin/ready`);
  t.same([ready.status, ready.json], [200, { status: 'ready', reasons: [] }]);
  t.equal((await request(`${status}/admin/config`)).status, 404, 'no other admin endpoint');
  t.equal((await request(`${status}/admin/reload`, { method: 'POST' })).status, 404);
  t.equal((await request(`${status}/admin/ready`, { method: 'POST' })).status, 405);
  t.equal((await request(`${status}/admin/ready`, { headers: { origin: 'https://evil.example' } })).status, 403, 'no browser page reads it');
});
