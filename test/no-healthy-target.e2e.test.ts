// Every target of an upstream failing its health checks: the gateway answers 503 at once,
// names the upstream, and forwards nothing; when one recovers, traffic flows again.
import t from 'tap';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { startUpstream } from './helpers/upstream.js';
import { request } from './helpers/client.js';

for (const engine of ENGINES) {
  t.test(`${engine} engine: no healthy target → 503`, async (t) => {
    let healthy = false;
    const up = await startUpstream((req, res) => {
      if (req.url === '/health') { res.writeHead(healthy ? 200 : 500, { 'content-length': '0' }).end(); return; }
      res.writeHead(200, { 'content-length': '2' }).end('ok');
    });
    const gw = await startGatewayProcess({
      upstreams: { up: { targets: [{ url: up.url }], healthCheck: { path: '/health', intervalMs: 100, timeoutMs: 200, healthyThreshold: 1, unhealthyThreshold: 1 } } },
      routes: [{ match: { prefix: '/' }, upstream: 'up' }],
    }, engine);
    t.teardown(async () => { await gw.stop(); await up.close(); });
    await new Promise((r) => setTimeout(r, 400));
    const before = up.seen.filter((s) => s.url !== '/health').length;
    const r = await request(`${gw.url}/x`);
    t.equal(r.status, 503);
    t.equal(r.json.error.code, 'no_healthy_target');
    t.match(r.json.error.message, /no healthy target in upstream "up"/);
    t.equal(up.seen.filter((s) => s.url !== '/health').length, before, 'nothing forwarded');
    healthy = true;
    await new Promise((r) => setTimeout(r, 400));
    t.equal((await request(`${gw.url}/x`)).status, 200, 'a recovered target serves again');
  });
}
