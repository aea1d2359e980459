// Upstream behaviours that had no end-to-end test: consistent hashing on a cookie and on
// the client address (through trusted proxies), maxEjectionPercent, and retries on a
// first-byte timeout — real upstreams, the real gateway process, both engines.
import t from 'tap';
import http from 'node:http';
import type net from 'node:net';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { request } from './helpers/client.js';

interface Named { url: string; hits: number; close(): Promise<void> }

async function named(name: string, handler?: (res: http.ServerResponse) => void): Promise<Named> {
  const n = { hits: 0 } as Named;
  const server = http.createServer((req, res) => { n.hits++; req.resume(); if (handler) handler(res); else res.end(name); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  n.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  n.close = () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); });
  return n;
}

for (const engine of ENGINES) {
  t.test(`${engine} engine`, async (t) => {
    const ups = await Promise.all(['a', 'b', 'c', 'd'].map((n) => named(n)));
    const failing = await Promise.all(['f1', 'f2', 'f3', 'f4'].map((n) => named(n, (res) => { res.writeHead(500); res.end('down'); })));
    const slow = await named('slow', (res) => { setTimeout(() => res.end('slow'), 1500); });
    const fast = await named('fast');
    const gw = await startGatewayProcess({
      trustedProxies: ['127.0.0.1/32'],
      upstreams: {
        bycookie: { balance: 'consistent-hash', hashOn: { cookie: 'sid' }, targets: ups.map((u) => ({ url: u.url })) },
        byip: { balance: 'consistent-hash', hashOn: 'ip', targets: ups.map((u) => ({ url: u.url })) },
        flaky: { targets: failing.map((u) => ({ url: u.url })), outlier: { consecutiveFailures: 1, baseEjectionMs: 60_000, maxEjectionPercent: 50 } },
        mixed: { targets: [{ url: slow.url }, { url: fast.url }], outlier: { enabled: false } },
      },
      routes: [
        { match: { prefix: '/cookie' }, upstream: 'bycookie' },
        { match: { prefix: '/ip' }, upstream: 'byip' },
        { match: { prefix: '/flaky' }, upstream: 'flaky', retry: { attempts: 0 } },
        { match: { prefix: '/retry-timeout' }, upstream: 'mixed', timeouts: { firstByteMs: 200 }, retry: { attempts: 1, on: ['timeout'], budgetPercent: 100, backoffMs: 1 } },
        { match: { prefix: '/no-retry-timeout' }, upstream: 'mixed', timeouts: { firstByteMs: 200 }, retry: { attempts: 1, on: ['connect-failure'], budgetPercent: 100 } },
      ],
    }, engine);
    t.teardown(async () => { await gw.stop(); await Promise.all([...ups, ...failing, slow, fast].map((u) => u.close())); });

    await t.test('hashOn cookie: one session, one target; sessions spread', async (t) => {
      const seen = new Map<string, Set<string>>();
      for (let s = 0; s < 40; s++) {
        for (let i = 0; i < 3; i++) {
          const r = await request(`${gw.url}/cookie/x`, { headers: { cookie: `theme=dark; sid=session-${s}` } });
          (seen.get(`session-${s}`) ?? seen.set(`session-${s}`, new Set()).get(`session-${s}`)!).add(r.body);
        }
      }
      t.ok([...seen.values()].every((targets) => targets.size === 1), 'every session always reached the same target');
      const used = new Set([...seen.values()].map((x) => [...x][0]));
      t.ok(used.size >= 3, `40 sessions spread over ${used.size} of 4 targets`);
    });

    await t.test('hashOn ip: the client address (through trusted proxies) picks the target', async (t) => {
      const byClient = new Map<string, Set<string>>();
      for (let c = 0; c < 40; c++) {
        for (let i = 0; i < 3; i++) {
          const r = await request(`${gw.url}/ip/x`, { headers: { 'x-forwarded-for': `198.51.100.${c}` } });
          (byClient.get(String(c)) ?? byClient.set(String(c), new Set()).get(String(c))!).add(r.body);
        }
      }
      t.ok([...byClient.values()].every((targets) => targets.size === 1), 'each client address sticks to one target');
      t.ok(new Set([...byClient.values()].map((x) => [...x][0])).size >= 3, 'and addresses spread');
    });

    await t.test('maxEjectionPercent: never more than half the targets out', async (t) => {
      for (let i = 0; i < 20; i++) await request(`${gw.url}/flaky/x`);
      const st = (await request(`${gw.adminUrl}/admin/upstreams`)).json.flaky;
      const ejected = st.targets.filter((x: { health: string }) => x.health === 'ejected').length;
      t.equal(ejected, 2, `2 of 4 ejected (maxEjectionPercent: 50), the rest keep serving (${st.targets.map((x: { health: string }) => x.health)})`);
      t.ok(failing.every((f) => f.hits > 0), 'every target was tried');
    });

    await t.test('a first-byte timeout is retried on another target only when retry.on has timeout', async (t) => {
      // round-robin alternates slow and fast: some of the 4 start on the slow one
      const slowFirst = slow.hits;
      const retried = await Promise.all([0, 1, 2, 3].map(() => request(`${gw.url}/retry-timeout/x`)));
      t.same(retried.map((r) => r.status), [200, 200, 200, 200], 'every request answered');
      t.ok(slow.hits > slowFirst, 'the slow target got some');
      t.ok(retried.every((r) => r.body === 'fast'), 'all answered by the fast target (the slow one timed out and was retried)');
      const slowBefore = slow.hits;
      const plain = await Promise.all([0, 1, 2, 3].map(() => request(`${gw.url}/no-retry-timeout/x`)));
      const timedOut = plain.filter((r) => r.status === 504);
      t.ok(slow.hits > slowBefore, 'some went to the slow target');
      t.equal(timedOut.length, slow.hits - slowBefore, `without timeout in retry.on, each request the slow target got is a 504 (${plain.map((r) => r.status)})`);
      t.ok(timedOut.every((r) => r.json.error.code === 'upstream_timeout'));
    });
  });
}
