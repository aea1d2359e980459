// IP allow/deny by CIDR (IPv4 and IPv6), global and per route, and the client address
// taken from X-Forwarded-For only behind trusted proxies.
import t from 'tap';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { startUpstream } from './helpers/upstream.js';
import { request } from './helpers/client.js';
import { parseConfig, ConfigError } from '../src/config/load.js';

for (const engine of ENGINES) {
  t.test(`${engine} engine`, async (t) => {
    const up = await startUpstream();
    const base = {
      upstreams: { up: { targets: [{ url: up.url }] } },
      routes: [
        { name: 'v6', match: { prefix: '/v6' }, upstream: 'up', ipFilter: { allow: ['2001:db8::/32', '::1/128'], deny: ['2001:db8:bad::/48'] } },
        { name: 'local', match: { prefix: '/local' }, upstream: 'up', ipFilter: { allow: ['127.0.0.0/8'] } },
        { name: 'no-local', match: { prefix: '/no-local' }, upstream: 'up', ipFilter: { deny: ['127.0.0.1'] } },
      ],
    };

    await t.test('without trusted proxies, X-Forwarded-For is ignored for filtering', async (t) => {
      const gw = await startGatewayProcess(base, engine);
      t.teardown(() => gw.stop());
      t.equal((await request(`${gw.url}/local`)).status, 200);
      t.equal((await request(`${gw.url}/local`, { headers: { 'x-forwarded-for': '203.0.113.7' } })).status, 200, 'a forged XFF does not change the client');
      const denied = await request(`${gw.url}/no-local`);
      t.equal(denied.status, 403);
      t.equal(denied.json.error.code, 'forbidden');
      t.equal((await request(`${gw.url}/v6`)).status, 403, '127.0.0.1 is not in the IPv6 allow list');
    });

    await t.test('behind a trusted proxy: the right-most untrusted XFF hop is the client (IPv6 CIDRs)', async (t) => {
      const gw = await startGatewayProcess({ ...base, trustedProxies: ['127.0.0.0/8', '10.0.0.0/8'], ipFilter: { deny: ['198.51.100.0/24'] } }, engine);
      t.teardown(() => gw.stop());
      const via = (xff: string) => request(`${gw.url}/v6`, { headers: { 'x-forwarded-for': xff } }).then((r) => r.status);
      t.equal(await via('2001:db8::5'), 200, 'in 2001:db8::/32');
      t.equal(await via('2001:db8:bad::1'), 403, 'in the denied /48');
      t.equal(await via('2001:db9::1'), 403, 'outside the allow list');
      t.equal(await via('2001:db9::1, 2001:db8::5, 10.1.2.3'), 200, 'trusted hops are skipped from the right');
      t.equal(await via('not-an-ip'), 403, 'a malformed chain is not believed (the peer 127.0.0.1 is used)');
      t.equal((await request(`${gw.url}/local`, { headers: { 'x-forwarded-for': '198.51.100.9' } })).status, 403, 'the global deny list applies to every route');
      const ok = await request(`${gw.url}/local`, { headers: { 'x-forwarded-for': '127.0.0.9' } });
      t.equal(ok.status, 200);
    });
    await up.close();
  });
}

t.test('bad CIDRs are config errors with their path', async (t) => {
  try {
    parseConfig(`
trustedProxies: [ "10.0.0.0/33" ]
upstreams: { a: { targets: [ { url: "http://127.0.0.1:1" } ] } }
routes: [ { match: { prefix: / }, upstream: a, ipFilter: { allow: [ "300.1.1.1", "2001:db8::/129" ] } } ]
`);
    t.fail('should throw');
  } catch (e) {
    const p = (e as ConfigError).problems;
    t.ok(p.includes('trustedProxies[0]: "10.0.0.0/33" has an invalid prefix length'), JSON.stringify(p));
    t.ok(p.includes('routes[0].ipFilter.allow[0]: "300.1.1.1" is not an IP address or CIDR'));
    t.ok(p.includes('routes[0].ipFilter.allow[1]: "2001:db8::/129" has an invalid prefix length'));
  }
});
