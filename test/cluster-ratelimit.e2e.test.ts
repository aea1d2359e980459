// Cluster mode: two gateway processes share one Redis and together admit the configured
// global limit (within 2%); with Redis killed mid-test they fall back to local limits
// without failing requests.
import t from 'tap';
import http from 'node:http';
import { startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.js';
import { startUpstream } from './helpers/upstream.js';
import { startRedis } from './helpers/redis.js';
import { request } from './helpers/client.js';

const RATE = 400;
const BURST = 100;

/** When the first and the last answer arrived: the span over which the limiter decided. */
interface Window { first: number; last: number }

/** Keeps `concurrency` keep-alive requests in flight against `url` until `until`; counts statuses. */
async function hammer(url: string, until: number, concurrency: number, counts: Map<number, number>, window: Window = { first: Infinity, last: 0 }): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const one = () => new Promise<number>((resolve) => {
    const req = http.get(url, { agent }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode!)); });
    req.on('error', () => resolve(0));
  });
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < until) {
      const s = await one();
      const now = performance.now();
      window.first = Math.min(window.first, now);
      window.last = Math.max(window.last, now);
      counts.set(s, (counts.get(s) ?? 0) + 1);
    }
  }));
  agent.destroy();
}

t.test('two gateways, one Redis', async (t) => {
  const redis = await startRedis();
  const up = await startUpstream();
  const config = {
    rateLimit: { backend: 'redis', redis: { url: redis.url, commandTimeoutMs: 200 } },
    upstreams: { up: { targets: [{ url: up.url }] } },
    routes: [{ name: 'global', match: { prefix: '/' }, upstream: 'up', rateLimit: [{ key: ['route'], rate: RATE, per: 'second', burst: BURST }] }],
  };
  const gws: GatewayProcess[] = [await startGatewayProcess(config, 'uws'), await startGatewayProcess(config, 'uws')];
  t.teardown(async () => { await Promise.all(gws.map((g) => g.stop())); await up.close(); await redis.kill(); });
  await new Promise((r) => setTimeout(r, 300)); // both connected to Redis

  await t.test('together they admit the global limit within 2%', async (t) => {
    const st = await request(`${gws[0]!.adminUrl}/admin/ratelimit`);
    t.equal(st.json.backend, 'redis');
    t.equal(st.json.redis, 'up');
    const counts = new Map<number, number>();
    const window: Window = { first: Infinity, last: 0 };
    const until = Date.now() + 3000;
    await Promise.all(gws.map((g) => hammer(`${g.url}/x`, until, 16, counts, window)));
    // Measured between the first and the last answer, not from the first send: on a loaded
    // machine the connects and the first requests' latency would otherwise count as time in
    // which the bucket refilled (a 2% bound is 26 requests, 65 ms at 400/s).
    const elapsed = (window.last - window.first) / 1000;
    const admitted = counts.get(200) ?? 0;
    const expected = RATE * elapsed + BURST;
    t.same([...counts.keys()].filter((s) => s !== 200 && s !== 429), [], 'only 200 and 429');
    t.ok((counts.get(429) ?? 0) > admitted, `the load exceeded the limit (${counts.get(429)} refused)`);
    t.ok(Math.abs(admitted - expected) <= expected * 0.02, `admitted ${admitted}, expected ${expected.toFixed(0)} (R·t + B over ${elapsed.toFixed(2)} s)`);
  });

  await t.test('Redis killed: local limits, no failed requests', async (t) => {
    await new Promise((r) => setTimeout(r, 1000)); // the bucket refills
    await redis.kill();
    await new Promise((r) => setTimeout(r, 200));
    const counts = new Map<number, number>();
    const start = Date.now();
    await Promise.all(gws.map((g) => hammer(`${g.url}/x`, start + 1500, 8, counts)));
    const elapsed = (Date.now() - start) / 1000;
    t.same([...counts.keys()].filter((s) => s !== 200 && s !== 429).sort(), [], 'no errors, only 200 and 429');
    const admitted = counts.get(200) ?? 0;
    // One global limit would admit R·t + B; two instances deciding alone admit twice that.
    const one = RATE * elapsed + BURST;
    t.ok(admitted >= 1.7 * one, `each instance enforces the limit alone: ${admitted} admitted in ${elapsed.toFixed(2)} s, ≥ 1.7 × the global ${one.toFixed(0)}`);
    t.ok(admitted <= 2.1 * one, `but still limited locally (≤ 2.1 × ${one.toFixed(0)})`);
    t.ok((counts.get(429) ?? 0) > 0, 'local limits still refuse');
    const st = await request(`${gws[0]!.adminUrl}/admin/ratelimit`);
    t.equal(st.json.redis, 'down');
    t.ok(st.json.fallbackDecisions > 0, `fallback decisions counted (${st.json.fallbackDecisions})`);
    t.match(gws[0]!.output(), /redis unavailable; falling back to local limits/);
  });
});
