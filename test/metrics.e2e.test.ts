// Prometheus metrics over real sockets: counted by every front-end thread in shared memory,
// exact across threads, with the labels Kong/APISIX users expect, bounded cardinality, and
// both exposition formats.
import t from 'tap';
import http from 'node:http';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { request } from './helpers/client.js';
import { freePort, startUpstream } from './helpers/upstream.js';
import { find, parseMetrics, sum } from './helpers/metrics.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `n` GETs over a few keep-alive connections (the kernel spreads them over the threads). */
async function load(url: string, n: number, opts: { method?: string; body?: Buffer; connections?: number } = {}): Promise<Map<number, number>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections ?? 32 });
  const codes = new Map<number, number>();
  let next = 0;
  const one = (): Promise<void> => new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', agent, headers: opts.body ? { 'content-length': String(opts.body.length) } : {} }, (res) => {
      res.resume();
      res.on('end', () => { codes.set(res.statusCode!, (codes.get(res.statusCode!) ?? 0) + 1); resolve(); });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
  await Promise.all(Array.from({ length: opts.connections ?? 32 }, async () => { while (next++ < n) await one(); }));
  agent.destroy();
  return codes;
}

async function metrics(adminUrl: string) {
  const r = await request(`${adminUrl}/metrics`);
  if (r.status !== 200) throw new Error(`GET /metrics: ${r.status} ${r.body}`);
  return { text: r.body, samples: parseMetrics(r.body), type: r.headers['content-type'] };
}

for (const engine of ENGINES) {
  for (const threads of engine === 'uws' ? [1, 2] : [1]) {
    t.test(`${engine} engine, ${threads} thread(s): counts, labels, histograms, bytes`, async (t) => {
      const up = await startUpstream((req, res, body) => {
        if (req.url!.startsWith('/fail')) { res.writeHead(500, { 'content-length': '4' }); res.end('oops'); return; }
        const text = `got ${body.length}`;
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      });
      const dead = await freePort();
      const gw = await startGatewayProcess({
        threads,
        upstreams: {
          app: { targets: [{ url: up.url }], breaker: { failureRatio: 0.9, minRequests: 1000 } },
          gone: { targets: [{ url: `http://127.0.0.1:${dead}` }, { url: up.url }], healthCheck: { path: '/health', intervalMs: 100, timeoutMs: 200, healthyThreshold: 1, unhealthyThreshold: 1 } },
        },
        routes: [
          { name: 'hello', match: { prefix: '/hello' }, upstream: 'app' },
          { name: 'fail', match: { prefix: '/fail' }, upstream: 'app' },
          { name: 'limited', match: { prefix: '/limited' }, upstream: 'app', rateLimit: [{ key: ['route'], rate: 5, per: 'minute', burst: 5 }] },
          { name: 'down', match: { prefix: '/down' }, upstream: 'gone', retry: { attempts: 0 } },
        ],
      }, engine);
      t.teardown(async () => { await gw.stop(); await up.close(); });

      const N = 10_000;
      const codes = await load(`${gw.url}/hello`, N);
      t.same([...codes], [[200, N]], 'every request answered');
      if (threads > 1) {
        const status = await request(`${gw.adminUrl}/admin/upstreams`);
        const byThread = status.json.app.targets[0].requestsByThread as number[];
        t.equal(byThread.length, 2);
        t.ok(byThread.every((n) => n > 0), `both threads served requests (${byThread.join(', ')})`);
      }
      await load(`${gw.url}/hello`, 20, { method: 'POST', body: Buffer.alloc(1000, 1), connections: 4 });
      await load(`${gw.url}/fail`, 7, { connections: 2 });
      await load(`${gw.url}/nothing-here`, 3, { connections: 1 });
      const limited = await load(`${gw.url}/limited`, 8, { connections: 1 });
      t.equal(limited.get(429), 3);

      const { samples, text, type } = await metrics(gw.adminUrl);
      t.match(type, /^text\/plain; version=0\.0\.4/);
      t.equal(sum(samples, 'gateway_http_requests_total', { route: 'hello', method: 'GET' }), N, 'exactly N GETs, summed over the threads');
      t.same(find(samples, 'gateway_http_requests_total', { route: 'hello', method: 'GET' }).map((s) => s.labels), [{ route: 'hello', method: 'GET', code: '200', source: 'upstream' }]);
      t.equal(sum(samples, 'gateway_http_requests_total', { route: 'hello', method: 'POST', code: '200' }), 20);
      t.equal(sum(samples, 'gateway_http_requests_total', { route: 'fail', code: '500', source: 'upstream' }), 7, 'an upstream 500 is the upstream\'s');
      t.equal(sum(samples, 'gateway_http_requests_total', { route: '', code: '404', source: 'gateway' }), 3, 'unrouted requests: the gateway\'s 404');
      t.equal(sum(samples, 'gateway_http_requests_total', { route: 'limited', code: '429', source: 'gateway' }), 3);
      t.equal(sum(samples, 'gateway_ratelimit_decisions_total', { route: 'limited', result: 'allowed' }), 5);
      t.equal(sum(samples, 'gateway_ratelimit_decisions_total', { route: 'limited', result: 'limited' }), 3);

      t.equal(sum(samples, 'gateway_http_request_duration_seconds_count', { route: 'hello' }), N + 20, 'one observation per request');
      const inf = find(samples, 'gateway_http_request_duration_seconds_bucket', { route: 'hello', le: '+Inf' })[0]!;
      t.equal(inf.value, N + 20, '+Inf bucket is the count');
      const buckets = find(samples, 'gateway_http_request_duration_seconds_bucket', { route: 'hello' }).map((s) => s.value);
      t.ok(buckets.every((v, i) => i === 0 || v >= buckets[i - 1]!), 'buckets are cumulative');
      t.equal(buckets.length, 11, 'the default 10 bounds and +Inf');
      t.ok(sum(samples, 'gateway_http_request_duration_seconds_sum', { route: 'hello' }) > 0);
      t.equal(sum(samples, 'gateway_upstream_duration_seconds_count', { route: 'hello', upstream: 'app' }), N + 20);
      t.equal(sum(samples, 'gateway_http_gateway_duration_seconds_count', { route: 'hello' }), N + 20);
      const total = sum(samples, 'gateway_http_request_duration_seconds_sum', { route: 'hello' });
      const upstream = sum(samples, 'gateway_upstream_duration_seconds_sum', { route: 'hello' });
      const own = sum(samples, 'gateway_http_gateway_duration_seconds_sum', { route: 'hello' });
      t.ok(Math.abs(total - upstream - own) < 0.01 * total + 0.001, `own time is total minus upstream (${total} = ${upstream} + ${own})`);
      t.equal(sum(samples, 'gateway_http_request_bytes_total', { route: 'hello' }), 20 * 1000, 'request body bytes');
      t.equal(sum(samples, 'gateway_http_response_bytes_total', { route: 'hello' }), N * 'got 0'.length + 20 * 'got 1000'.length, 'response body bytes');

      // Upstream state, read from the threads at scrape time.
      await load(`${gw.url}/down`, 4, { connections: 1 });
      await sleep(400);
      const after = (await metrics(gw.adminUrl)).samples;
      t.equal(sum(after, 'gateway_upstream_target_health', { upstream: 'gone', target: `127.0.0.1:${dead}` }), 0, 'the dead target is unhealthy');
      t.equal(sum(after, 'gateway_upstream_target_health', { upstream: 'gone', target: `127.0.0.1:${up.port}` }), 1);
      t.same(find(after, 'gateway_circuit_breaker_state', { upstream: 'app' }).map((s) => s.value), [0], 'breaker closed');
      t.ok(find(after, 'gateway_http_requests_in_flight').length === 1);
      t.ok(sum(after, 'process_resident_memory_bytes') > 10e6, 'process metrics');
      t.ok(sum(after, 'process_cpu_seconds_total') > 0);
      t.ok(find(after, 'gateway_transcoding_queue_depth').length === 1);
      if (engine === 'node') t.ok(sum(after, 'gateway_http_connections_open') >= 0 && find(after, 'gateway_http_connections_open').length === 1, 'node reports connections');

      // Reloads by result.
      t.equal((await request(`${gw.adminUrl}/admin/reload`, { method: 'POST' })).status, 200);
      t.equal((await request(`${gw.adminUrl}/admin/reload`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"routes": 7}' })).status, 400);
      const reloaded = (await metrics(gw.adminUrl)).samples;
      t.equal(sum(reloaded, 'gateway_config_reloads_total', { result: 'success' }), 1);
      t.equal(sum(reloaded, 'gateway_config_reloads_total', { result: 'failure' }), 1);
      t.equal(sum(reloaded, 'gateway_http_requests_total', { route: 'hello', method: 'GET' }), N, 'counters survive a reload');

      // OpenMetrics on request.
      const om = await request(`${gw.adminUrl}/metrics`, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } });
      t.match(om.headers['content-type'], /^application\/openmetrics-text; version=1\.0\.0/);
      t.match(om.body, /^# TYPE gateway_http_requests counter$/m, 'a counter family is named without _total');
      t.match(om.body, /^gateway_http_requests_total\{route="hello"/m, 'its samples keep _total');
      t.ok(om.body.endsWith('# EOF\n'), 'ends with # EOF');
      t.match(text, /^# TYPE gateway_http_requests_total counter$/m);
      t.equal((await request(`${gw.adminUrl}/metrics`, { headers: { origin: 'https://evil.example' } })).status, 403, 'the admin API\'s browser checks apply');
    });
  }
}

t.test('cardinality: 10,000 routes, a series cap with an overflow series', async (t) => {
  const up = await startUpstream();
  const routes = Array.from({ length: 10_000 }, (_, i) => ({ name: `r${i}`, match: { path: `/r/${i}` }, upstream: 'app' }));
  const gw = await startGatewayProcess({
    upstreams: { app: { targets: [{ url: up.url }] } },
    routes,
    observability: { metrics: { maxSeries: 50 } },
  }, 'uws');
  t.teardown(async () => { await gw.stop(); await up.close(); });
  const before = (await metrics(gw.adminUrl)).samples;
  t.equal(find(before, 'gateway_http_requests_total').length, 0, 'no series before traffic: 10,000 routes create none');
  for (let i = 0; i < 120; i++) t.equal((await request(`${gw.url}/r/${i}`)).status, 200);
  const { samples, text } = await metrics(gw.adminUrl);
  const series = find(samples, 'gateway_http_requests_total');
  t.equal(series.length, 51, '50 series and the overflow series');
  t.equal(sum(samples, 'gateway_http_requests_total'), 120, 'every request is counted');
  t.ok(sum(samples, 'gateway_http_requests_total', { overflow: 'true' }) === 70, 'the rest in {overflow="true"}');
  t.ok(find(samples, 'gateway_http_request_duration_seconds_bucket').length <= 51 * 11, 'histograms are capped too');
  t.ok(text.length < 200_000, `the exposition stays small (${text.length} bytes)`);
});

t.test('metrics off: /metrics is 404, requests still flow', async (t) => {
  const up = await startUpstream();
  const gw = await startGatewayProcess({ upstreams: { app: { targets: [{ url: up.url }] } }, routes: [{ match: { prefix: '/' }, upstream: 'app' }], observability: { metrics: { enabled: false } } }, 'uws');
  t.teardown(async () => { await gw.stop(); await up.close(); });
  t.equal((await request(`${gw.url}/x`)).status, 200);
  t.equal((await request(`${gw.adminUrl}/metrics`)).status, 404);
});

t.test('observability.metrics.listen: /metrics on its own listener, nothing else there', async (t) => {
  const up = await startUpstream();
  const port = await freePort();
  const gw = await startGatewayProcess({ upstreams: { app: { targets: [{ url: up.url }] } }, routes: [{ name: 'all', match: { prefix: '/' }, upstream: 'app' }], observability: { metrics: { listen: { port } } } }, 'node');
  t.teardown(async () => { await gw.stop(); await up.close(); });
  await request(`${gw.url}/x`);
  const r = await request(`http://127.0.0.1:${port}/metrics`);
  t.equal(r.status, 200);
  t.equal(sum(parseMetrics(r.body), 'gateway_http_requests_total', { route: 'all' }), 1);
  t.equal((await request(`http://127.0.0.1:${port}/admin/config`)).status, 404, 'only /metrics');
  t.equal((await request(`http://127.0.0.1:${port}/metrics`, { headers: { origin: 'http://evil.example' } })).status, 403, 'no browser reads');
});
