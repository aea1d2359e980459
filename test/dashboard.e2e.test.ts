// The dashboard in a real browser: Debian's chromium driven by playwright-core loads
// /admin/ui while traffic flows, and the numbers on the page are the numbers of /metrics;
// the admin token applies (Basic, the token as password), the page runs under a strict CSP.
// UPDATE_SCREENSHOT=1 writes docs/dashboard.png.
import t from 'tap';
import http from 'node:http';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { startGatewayProcess } from './helpers/gateway-process.js';
import { request } from './helpers/client.js';
import { freePort, startUpstream } from './helpers/upstream.js';
import { parseMetrics, sum } from './helpers/metrics.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TOKEN = 'dashboard-token-0123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function traffic(url: string, paths: string[]): { stop(): Promise<void> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  let running = true;
  const loops = paths.map(async (p) => {
    while (running) {
      await new Promise<void>((resolve) => {
        http.get(`${url}${p}`, { agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', () => resolve());
      });
      await sleep(5);
    }
  });
  return { stop: async () => { running = false; await Promise.all(loops); agent.destroy(); } };
}

t.test('dashboard in headless chromium', async (t) => {
  const up = await startUpstream();
  const dead = await freePort();
  const gw = await startGatewayProcess({
    threads: 2,
    admin: { host: '127.0.0.1', port: 0, token: TOKEN },
    upstreams: {
      app: { targets: [{ url: up.url }], breaker: { minRequests: 1000 } },
      gone: { targets: [{ url: `http://127.0.0.1:${dead}` }], healthCheck: { path: '/', intervalMs: 100, timeoutMs: 200, healthyThreshold: 1, unhealthyThreshold: 1 } },
    },
    routes: [
      { name: 'shop', match: { prefix: '/shop' }, upstream: 'app', rateLimit: [{ key: ['route'], rate: 50, per: 'second', burst: 50 }] },
      { name: 'down', match: { prefix: '/down' }, upstream: 'gone', retry: { attempts: 0 } },
    ],
  }, 'uws');
  t.teardown(async () => { await gw.stop(); await up.close(); }); // before the launch: a missing browser fails fast, not at tap's timeout
  const browser: Browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  t.teardown(async () => { await browser.close(); });

  const auth = { authorization: `Bearer ${TOKEN}` };
  t.equal((await request(`${gw.adminUrl}/admin/ui`)).status, 401, 'the page needs the admin token');
  t.match(String((await request(`${gw.adminUrl}/admin/ui`)).headers['www-authenticate']), /Basic realm="gateway admin"/, 'a browser is asked for it');
  const page0 = await request(`${gw.adminUrl}/admin/ui`, { headers: auth });
  t.equal(page0.status, 200);
  t.match(page0.headers['content-security-policy'], /script-src 'self'/);
  t.equal(page0.headers['x-frame-options'], 'DENY');
  t.notMatch(page0.body, /<script>/, 'no inline script');

  const load = traffic(gw.url, ['/shop/a', '/shop/b', '/down/x']);
  t.teardown(() => load.stop());
  const context = await browser.newContext({ httpCredentials: { username: 'admin', password: TOKEN }, viewport: { width: 1100, height: 1100 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  await page.goto(`${gw.adminUrl}/admin/ui`);
  await page.waitForFunction(() => Number((globalThis as any).document.body.dataset.refreshes ?? 0) >= 3, null, { timeout: 20_000 });
  t.equal(await page.textContent('#status'), 'live');
  const rate = Number(await page.textContent('[data-testid="rate-shop"]'));
  t.ok(rate > 0, `a request rate over the last minute while traffic flows (${rate} req/s)`);
  t.match(await page.textContent('[data-testid="p99-shop"]'), /\d+(\.\d+)? (µs|ms|s)/, 'a p99');
  t.match(await page.textContent('[data-testid="errors-down"]'), /100\.0 %/, 'every request to the dead upstream is a 5xx');
  t.equal(await page.textContent(`[data-testid="health-gone-127.0.0.1:${dead}"]`), 'unhealthy');
  t.equal(await page.textContent(`[data-testid="health-app-127.0.0.1:${up.port}"]`), 'healthy');
  t.equal(await page.textContent('[data-testid="breaker-app"]'), 'closed');
  if (process.env.UPDATE_SCREENSHOT) await page.screenshot({ path: join(ROOT, 'docs', 'dashboard.png'), fullPage: true });

  // Traffic stops; after the next refresh the page's totals are exactly /metrics' totals.
  await load.stop();
  await sleep(300);
  const metrics = parseMetrics((await request(`${gw.adminUrl}/metrics`, { headers: auth })).body);
  const before = Number(await page.evaluate(() => (globalThis as any).document.body.dataset.refreshes));
  await page.waitForFunction((n) => Number((globalThis as any).document.body.dataset.refreshes) >= n + 2, before, { timeout: 10_000 });
  for (const route of ['shop', 'down']) {
    const shown = Number(await page.textContent(`[data-testid="requests-${route}"]`));
    t.equal(shown, sum(metrics, 'gateway_http_requests_total', { route }), `requests of ${route} on the page = /metrics (${shown})`);
  }
  t.ok(sum(metrics, 'gateway_http_requests_total', { route: 'shop' }) > 50, 'real traffic went through');
  const rlRows = await page.$$eval('#ratelimits tbody tr', (rows) => rows.map((r) => [...(r as any).children].map((c: any) => c.textContent)));
  t.same(rlRows, [['shop', String(sum(metrics, 'gateway_ratelimit_decisions_total', { route: 'shop', result: 'allowed' })), String(sum(metrics, 'gateway_ratelimit_decisions_total', { route: 'shop', result: 'limited' }))]], 'rate-limit figures = /metrics');
  t.ok(Number(await page.$$eval('#errors tbody tr', (r) => r.length)) > 0, 'recent errors are listed');

  // A reload shows in the list.
  t.equal((await request(`${gw.adminUrl}/admin/reload`, { method: 'POST', headers: auth })).status, 200);
  await page.waitForFunction(() => (globalThis as any).document.querySelector('#reloads tbody td')?.textContent !== 'nothing yet', null, { timeout: 10_000 });
  t.match(await page.textContent('#reloads tbody tr'), /success/);
  t.same(problems, [], 'no errors in the page (CSP included)');

  // With a wrong token the browser gets no page (headless chromium ends the navigation at the challenge).
  const wrong = await (await browser.newContext({ httpCredentials: { username: 'admin', password: 'not-the-token-000000' } })).newPage();
  const failed = await wrong.goto(`${gw.adminUrl}/admin/ui`).then((r) => `status ${r?.status()}`, (e: Error) => e.message);
  t.match(failed, /ERR_INVALID_AUTH_CREDENTIALS|status 401/, 'refused');
  t.equal(await wrong.locator('#routes').count(), 0, 'nothing of the dashboard shown');
});
