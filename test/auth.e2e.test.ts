// API-key authentication, consumers, identity headers (never spoofable) and route ACLs,
// through the real gateway on both engines.
import t from 'tap';
import { createHash } from 'node:crypto';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { startUpstream } from './helpers/upstream.js';
import { request } from './helpers/client.js';

for (const engine of ENGINES) {
  t.test(`${engine} engine`, async (t) => {
    const up = await startUpstream();
    const gw = await startGatewayProcess({
      plans: { free: {} },
      consumers: [
        { id: 'alice', plan: 'free', groups: ['admins', 'staff'], tenant: 'acme', keys: [{ key: 'alice-key-123' }] },
        { id: 'bob', groups: ['staff'], keys: [{ sha256: createHash('sha256').update('bob-secret-456').digest('hex') }] },
      ],
      auth: { keys: { type: 'api-key', header: 'x-api-key', query: 'api_key' } },
      upstreams: { up: { targets: [{ url: up.url }] } },
      routes: [
        { name: 'admin', match: { prefix: '/admin-api' }, upstream: 'up', auth: ['keys'], allow: { groups: ['admins'] } },
        { name: 'staff', match: { prefix: '/staff' }, upstream: 'up', auth: ['keys'], rateLimit: [{ key: ['consumer'], rate: 2, per: 'minute', burst: 2 }] },
        { name: 'public', match: { prefix: '/public' }, upstream: 'up' },
      ],
    }, engine);
    t.teardown(async () => { await gw.stop(); await up.close(); });

    await t.test('missing key: 401 with WWW-Authenticate; unknown key: 401', async (t) => {
      const missing = await request(`${gw.url}/staff`);
      t.equal(missing.status, 401);
      t.equal(missing.json.error.code, 'unauthorized');
      t.equal(missing.headers['www-authenticate'], 'ApiKey realm="edge-gateway", header="x-api-key"');
      const wrong = await request(`${gw.url}/staff`, { headers: { 'x-api-key': 'alice-key-124' } });
      t.equal(wrong.status, 401);
      t.equal(wrong.json.error.message, 'credentials are not valid: unknown API key');
    });

    await t.test('a good key (plain or stored as SHA-256, header or query) reaches the upstream with the identity', async (t) => {
      const a = await request(`${gw.url}/staff`, { headers: { 'x-api-key': 'alice-key-123' } });
      t.equal(a.status, 200);
      t.equal(a.json.headers['x-consumer-id'], 'alice');
      t.equal(a.json.headers['x-consumer-groups'], 'admins,staff');
      t.equal(a.json.headers['x-tenant-id'], 'acme');
      const b = await request(`${gw.url}/staff?api_key=bob-secret-456`);
      t.equal(b.status, 200);
      t.equal(b.json.headers['x-consumer-id'], 'bob');
      t.equal(b.json.headers['x-tenant-id'], undefined);
    });

    await t.test('client-sent identity headers are removed everywhere', async (t) => {
      const spoof = { 'x-consumer-id': 'root', 'x-consumer-groups': 'admins', 'x-tenant-id': 'evil' };
      const pub = await request(`${gw.url}/public`, { headers: spoof });
      t.equal(pub.json.headers['x-consumer-id'], undefined);
      t.equal(pub.json.headers['x-consumer-groups'], undefined);
      t.equal(pub.json.headers['x-tenant-id'], undefined);
      const authed = await request(`${gw.url}/staff`, { headers: { ...spoof, 'x-api-key': 'bob-secret-456' } });
      t.equal(authed.json.headers['x-consumer-id'], 'bob', 'the real identity, not the spoofed one');
      t.equal(authed.json.headers['x-consumer-groups'], 'staff');
      t.equal(authed.json.headers['x-tenant-id'], undefined);
    });

    await t.test('the admin API shows the config without the API keys', async (t) => {
      const cfg = await request(`${gw.adminUrl}/admin/config`);
      t.equal(cfg.status, 200);
      t.equal(cfg.json.consumers[0].id, 'alice');
      t.same(cfg.json.consumers[0].keys, [{ key: '[redacted]' }]);
      t.notMatch(cfg.body, /alice-key-123/);
    });

    await t.test('allow by group: 403 for others', async (t) => {
      t.equal((await request(`${gw.url}/admin-api/x`, { headers: { 'x-api-key': 'alice-key-123' } })).status, 200);
      const bob = await request(`${gw.url}/admin-api/x`, { headers: { 'x-api-key': 'bob-secret-456' } });
      t.equal(bob.status, 403);
      t.equal(bob.json.error.code, 'forbidden');
    });

    await t.test('rate limits keyed by consumer', async (t) => {
      // so far on /staff: alice once, bob twice (burst 2 per consumer)
      const a = await request(`${gw.url}/staff`, { headers: { 'x-api-key': 'alice-key-123' } });
      t.equal(a.status, 200, 'alice: second request');
      t.equal((await request(`${gw.url}/staff`, { headers: { 'x-api-key': 'alice-key-123' } })).status, 429, 'alice: third is limited');
      t.equal((await request(`${gw.url}/staff`, { headers: { 'x-api-key': 'bob-secret-456' } })).status, 429, 'bob used his 2 above');
    });
  });
}
