// Plans (usage tiers) through the real gateway: plan rate limits keyed by consumer across
// routes, daily quotas with 429 quota_exceeded, quota headers, the usage endpoint, and
// counts kept across a reload.
import t from 'tap';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { startUpstream } from './helpers/upstream.js';
import { request } from './helpers/client.js';

for (const engine of ENGINES) {
  t.test(`${engine} engine`, async (t) => {
    const up = await startUpstream();
    const gw = await startGatewayProcess({
      plans: {
        free: { limits: [{ rate: 1, per: 'minute', burst: 3 }] },
        tiny: { quota: { requests: 2, per: 'day' } },
        premium: { limits: [{ rate: 1000, per: 'second' }] },
      },
      consumers: [
        { id: 'fred', plan: 'free', keys: [{ key: 'fred-key-123' }] },
        { id: 'tina', plan: 'tiny', keys: [{ key: 'tina-key-123' }] },
        { id: 'pam', plan: 'premium', keys: [{ key: 'pam-key-1234' }] },
        { id: 'nick', keys: [{ key: 'nick-key-123' }] },
      ],
      auth: { keys: { type: 'api-key' } },
      upstreams: { up: { targets: [{ url: up.url }] } },
      routes: [
        { name: 'a', match: { prefix: '/a' }, upstream: 'up', auth: ['keys'] },
        { name: 'b', match: { prefix: '/b' }, upstream: 'up', auth: ['keys'] },
      ],
    }, engine);
    t.teardown(async () => { await gw.stop(); await up.close(); });
    const as = (key: string, path = '/a') => request(`${gw.url}${path}`, { headers: { 'x-api-key': key } });

    await t.test('plan limits are per consumer, across routes', async (t) => {
      const first = await as('fred-key-123', '/a');
      t.equal(first.status, 200);
      t.equal(first.headers['ratelimit-policy'], '1;w=60;burst=3');
      t.equal((await as('fred-key-123', '/b')).status, 200);
      t.equal((await as('fred-key-123', '/a')).status, 200);
      const limited = await as('fred-key-123', '/b');
      t.equal(limited.status, 429, 'fourth request on any route');
      t.equal(limited.json.error.code, 'rate_limited');
      t.match(limited.json.error.message, /plan "free"/);
      t.ok(Number(limited.headers['retry-after']) > 0);
      t.equal((await as('pam-key-1234')).status, 200, 'another plan is not affected');
      t.equal((await as('nick-key-123')).status, 200, 'no plan: no plan limits');
    });

    await t.test('quota: counted per day, 429 quota_exceeded once used up', async (t) => {
      const one = await as('tina-key-123');
      t.equal(one.status, 200);
      t.equal(one.headers['x-quota-limit'], '2');
      t.equal(one.headers['x-quota-remaining'], '1');
      t.equal((await as('tina-key-123', '/b')).headers['x-quota-remaining'], '0');
      const over = await as('tina-key-123');
      t.equal(over.status, 429);
      t.equal(over.json.error.code, 'quota_exceeded');
      t.equal(over.json.error.message, 'quota of 2 requests per day is used up');
      const untilMidnight = Math.ceil((Math.floor(Date.now() / 86_400_000 + 1) * 86_400_000 - Date.now()) / 1000);
      t.ok(Math.abs(Number(over.headers['retry-after']) - untilMidnight) <= 2, 'Retry-After: until the next UTC day');
    });

    await t.test('usage endpoint: count, quota and reset time; 404 for unknown consumers', async (t) => {
      const tina = await request(`${gw.adminUrl}/admin/consumers/tina/usage`);
      t.equal(tina.status, 200);
      t.same(tina.json, { consumer: 'tina', plan: 'tiny', period: 'day', used: 2, quota: { requests: 2, remaining: 0 }, resetsAt: new Date(Math.floor(Date.now() / 86_400_000 + 1) * 86_400_000).toISOString(), counted: true });
      const fred = await request(`${gw.adminUrl}/admin/consumers/fred/usage`);
      t.equal(fred.json.used, 3, 'admitted requests only (the limited one is not counted)');
      t.equal(fred.json.period, 'month');
      t.equal(fred.json.quota, null);
      t.equal((await request(`${gw.adminUrl}/admin/consumers/nobody/usage`)).status, 404);
    });

    await t.test('a reload keeps quota counts and plan buckets', async (t) => {
      const r = await request(`${gw.adminUrl}/admin/reload`, { method: 'POST' });
      t.equal(r.status, 200);
      t.equal((await as('tina-key-123')).status, 429, 'quota still used up');
      t.equal((await as('fred-key-123')).status, 429, 'plan bucket still empty');
      t.equal((await request(`${gw.adminUrl}/admin/consumers/tina/usage`)).json.used, 2);
    });
  });
}
