// Per-route rate limits through the real gateway: 429s with Retry-After and RateLimit
// headers, keys by IP, header and path param, several limits, state kept across reloads.
import t from 'tap';
import { stringify } from 'yaml';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { startUpstream } from './helpers/upstream.js';
import { request } from './helpers/client.js';

for (const engine of ENGINES) {
  t.test(`${engine} engine`, async (t) => {
    const up = await startUpstream();
    const config = (ipRate: number) => ({
      upstreams: { up: { targets: [{ url: up.url }] } },
      routes: [
        { name: 'ip', match: { prefix: '/ip' }, upstream: 'up', rateLimit: [{ key: ['ip'], rate: ipRate, per: 'minute', burst: 3 }] },
        { name: 'keyed', match: { prefix: '/keyed' }, upstream: 'up', rateLimit: [{ key: ['header:x-api-key'], rate: 2, per: 'minute', burst: 2 }] },
        { name: 'user', match: { path: '/users/:id' }, upstream: 'up', rateLimit: [{ key: ['param:id'], rate: 1, per: 'hour', burst: 1 }] },
        { name: 'both', match: { prefix: '/both' }, upstream: 'up', rateLimit: [{ key: ['route'], rate: 100, per: 'second', burst: 100 }, { key: ['ip'], rate: 1, per: 'minute', burst: 2 }] },
        { name: 'open', match: { prefix: '/open' }, upstream: 'up' },
      ],
    });
    const gw = await startGatewayProcess(config(3), engine);
    t.teardown(async () => { await gw.stop(); await up.close(); });

    await t.test('burst, then 429 with Retry-After; RateLimit headers on every answer', async (t) => {
      const before = up.seen.length;
      for (let i = 0; i < 3; i++) {
        const r = await request(`${gw.url}/ip/x`);
        t.equal(r.status, 200);
        t.equal(r.headers['ratelimit-policy'], '3;w=60;burst=3');
        t.equal(r.headers['ratelimit'], `limit=3, remaining=${2 - i}, reset=${20 * (i + 1)}`);
      }
      const denied = await request(`${gw.url}/ip/x`);
      t.equal(denied.status, 429);
      t.equal(denied.json.error.code, 'rate_limited');
      t.equal(denied.headers['retry-after'], '20');
      t.equal(denied.headers['ratelimit'], 'limit=3, remaining=0, reset=20');
      t.equal(up.seen.length, before + 3, 'the denied request never reached the upstream');
      t.equal((await request(`${gw.url}/open`)).headers['ratelimit'], undefined, 'routes without limits carry no headers');
    });

    await t.test('keys: header values and path params have their own buckets; a missing part is not limited', async (t) => {
      for (const k of ['a', 'a']) t.equal((await request(`${gw.url}/keyed`, { headers: { 'x-api-key': k } })).status, 200);
      t.equal((await request(`${gw.url}/keyed`, { headers: { 'x-api-key': 'a' } })).status, 429);
      t.equal((await request(`${gw.url}/keyed`, { headers: { 'x-api-key': 'b' } })).status, 200, 'another key');
      t.equal((await request(`${gw.url}/keyed`)).status, 200, 'no key: not limited by this rule');
      t.equal((await request(`${gw.url}/users/1`)).status, 200);
      t.equal((await request(`${gw.url}/users/1`)).status, 429);
      t.equal((await request(`${gw.url}/users/2`)).status, 200);
    });

    await t.test('several limits: all must pass', async (t) => {
      t.equal((await request(`${gw.url}/both`)).status, 200);
      const second = await request(`${gw.url}/both`);
      t.equal(second.status, 200);
      t.equal(second.headers['ratelimit-policy'], '100;w=1;burst=100, 1;w=60;burst=2');
      t.equal(second.headers['ratelimit'], 'limit=2, remaining=0, reset=120', 'the tightest limit is reported');
      t.equal((await request(`${gw.url}/both`)).status, 429);
    });

    await t.test('a reload keeps bucket state for unchanged rules; a changed rule starts fresh', async (t) => {
      const same = await request(`${gw.adminUrl}/admin/reload`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: stringify({ ...config(3), engine, listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } }) });
      t.equal(same.status, 200);
      t.equal((await request(`${gw.url}/ip/x`)).status, 429, 'still limited after reloading the same rule');
      await request(`${gw.adminUrl}/admin/reload`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: stringify({ ...config(6), engine, listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } }) });
      t.equal((await request(`${gw.url}/ip/x`)).status, 200, 'a changed rule has fresh buckets');
      const stats = await request(`${gw.adminUrl}/admin/ratelimit`);
      t.equal(stats.json.tableSize, 65536);
      t.ok(stats.json.denied >= 5, `denials counted (${stats.json.denied})`);
    });
  });
}
