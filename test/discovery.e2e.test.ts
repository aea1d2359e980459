// Active health checks and DNS discovery (A and SRV) with real servers on loopback and a
// DNS server the test controls.
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { startGatewayProcess } from './helpers/gateway-process.js';
import { startDnsServer, type DnsTable } from './helpers/dns-server.js';
import { request } from './helpers/client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function named(name: string, host = '127.0.0.1', port = 0): Promise<{ port: number; setHealthy(ok: boolean): void; hostsSeen: Set<string>; close(): void }> {
  let healthy = true;
  const hostsSeen = new Set<string>();
  const server = http.createServer((req, res) => {
    hostsSeen.add(req.headers.host ?? '');
    if (req.url === '/health') { res.writeHead(healthy ? 200 : 503); res.end(); return; }
    res.end(name);
  });
  await new Promise<void>((r) => server.listen(port, host, () => r()));
  return { port: (server.address() as net.AddressInfo).port, setHealthy: (ok) => { healthy = ok; }, hostsSeen, close: () => { server.closeAllConnections(); server.close(); } };
}

async function spread(url: string, n: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = await request(url);
    const k = r.status === 200 ? r.body : `status ${r.status}`;
    out.set(k, (out.get(k) ?? 0) + 1);
  }
  return out;
}

t.test('active health checks: an unhealthy target gets no traffic and comes back when it recovers', async (t) => {
  const a = await named('a');
  const b = await named('b');
  const gw = await startGatewayProcess({
    upstreams: { u: { targets: [{ url: `http://127.0.0.1:${a.port}` }, { url: `http://127.0.0.1:${b.port}` }],
      healthCheck: { path: '/health', intervalMs: 100, timeoutMs: 100, healthyThreshold: 2, unhealthyThreshold: 2 } } },
    routes: [{ match: { prefix: '/' }, upstream: 'u' }],
  }, 'uws');
  t.teardown(async () => { await gw.stop(); a.close(); b.close(); });
  t.same([...(await spread(`${gw.url}/x`, 20)).keys()].sort(), ['a', 'b']);
  b.setHealthy(false);
  await sleep(400);
  const down = await spread(`${gw.url}/x`, 20);
  t.same([...down.entries()], [['a', 20]], 'b gets nothing while unhealthy');
  const st = await request(`${gw.adminUrl}/admin/upstreams`);
  t.equal(st.json.u.targets[1].health, 'unhealthy');
  b.setHealthy(true);
  await sleep(400);
  t.same([...(await spread(`${gw.url}/x`, 20)).keys()].sort(), ['a', 'b'], 'b is back');
});

t.test('DNS: hostname targets follow the address set; SRV targets too', async (t) => {
  // Three servers on three loopback addresses, one port.
  const first = await named('one', '127.0.0.1');
  const port = first.port;
  const second = await named('two', '127.0.0.2', port);
  const third = await named('three', '127.0.0.3', port);
  const srvA = await named('srv-a', '127.0.0.4');
  const srvB = await named('srv-b', '127.0.0.5');
  const table: DnsTable = {
    ttl: 1,
    a: new Map([
      ['users.test', ['127.0.0.1', '127.0.0.2']],
      ['a.svc.test', ['127.0.0.4']],
      ['b.svc.test', ['127.0.0.5']],
    ]),
    srv: new Map([['_http._tcp.svc.test', [{ priority: 10, weight: 1, port: srvA.port, target: 'a.svc.test' }]]]),
  };
  const dnsServer = await startDnsServer(table);
  const gw = await startGatewayProcess({
    upstreams: {
      users: { targets: [{ url: `http://users.test:${port}` }], dns: { refreshMs: 300, servers: [dnsServer.address] } },
      svc: { targets: [{ srv: '_http._tcp.svc.test' }], dns: { refreshMs: 300, servers: [dnsServer.address] } },
    },
    routes: [{ match: { prefix: '/users' }, upstream: 'users' }, { match: { prefix: '/svc' }, upstream: 'svc' }],
  }, 'uws');
  t.teardown(async () => { await gw.stop(); for (const s of [first, second, third, srvA, srvB]) s.close(); dnsServer.close(); });

  t.same([...(await spread(`${gw.url}/users`, 20)).keys()].sort(), ['one', 'two'], 'both A records get traffic');
  t.ok(first.hostsSeen.has(`users.test:${port}`), 'the Host header is the name, not the address');
  table.a.set('users.test', ['127.0.0.2', '127.0.0.3']);
  await sleep(1300);
  const after = await spread(`${gw.url}/users`, 20);
  t.same([...after.keys()].sort(), ['three', 'two'], 'traffic follows the new address set');
  t.equal(after.get('status 502') ?? 0, 0, 'no errors during the change');

  t.same([...(await spread(`${gw.url}/svc`, 6)).keys()], ['srv-a']);
  table.srv.set('_http._tcp.svc.test', [{ priority: 10, weight: 1, port: srvB.port, target: 'b.svc.test' }]);
  await sleep(800);
  t.same([...(await spread(`${gw.url}/svc`, 6)).keys()], ['srv-b'], 'SRV change followed');
  const st = await request(`${gw.adminUrl}/admin/upstreams`);
  t.equal(st.json.svc.targets[0].host, `b.svc.test:${srvB.port}`);
});
