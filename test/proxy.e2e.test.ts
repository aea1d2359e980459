// Routing and proxying through the real gateway binary, against real upstreams, on both engines.
import t from 'tap';
import net from 'node:net';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { startUpstream, freePort } from './helpers/upstream.js';
import { request, rawExchange, statusOf } from './helpers/client.js';

for (const engine of ENGINES) {
  t.test(`${engine} engine`, async (t) => {
    const users = await startUpstream();
    const orders = await startUpstream();
    const slow = await startUpstream((_req, res) => { setTimeout(() => { res.writeHead(200); res.end('late'); }, 1500); });
    const chunky = await startUpstream((req, res) => {
      if (req.url === '/empty') { res.writeHead(204, { 'x-empty': 'yes' }); res.end(); return; }
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'x-secret', 'x-secret': 'hop', 'keep-alive': 'timeout=5', 'x-upstream': 'chunky', server: 'upstream/1.0' });
      res.write('part1-');
      setTimeout(() => res.end('part2'), 20);
    });
    // A raw upstream that accepts and resets: the gateway must answer 502.
    const resetter = net.createServer((s) => { s.once('data', () => s.resetAndDestroy()); });
    await new Promise<void>((r) => resetter.listen(0, '127.0.0.1', () => r()));
    const resetPort = (resetter.address() as net.AddressInfo).port;
    const deadPort = await freePort();

    const gw = await startGatewayProcess({
      upstreams: {
        users: { targets: [{ url: users.url }] },
        orders: { targets: [{ url: orders.url }] },
        slow: { targets: [{ url: slow.url }] },
        chunky: { targets: [{ url: chunky.url }] },
        dead: { targets: [{ url: `http://127.0.0.1:${deadPort}` }] },
        reset: { targets: [{ url: `http://127.0.0.1:${resetPort}` }] },
      },
      routes: [
        { name: 'users', match: { prefix: '/api/users', methods: ['GET', 'POST', 'HEAD'] }, upstream: 'users', stripPrefix: true,
          requestHeaders: { add: { 'x-gateway': 'edge' }, remove: ['x-remove-me'] }, responseHeaders: { add: { 'x-route': 'users' }, remove: ['x-powered-by'] } },
        { name: 'order', match: { path: '/api/orders/:id', methods: ['GET'] }, upstream: 'orders', rewrite: '/v2/orders/:id' },
        { name: 'orders-host', match: { path: '/api/orders/:id', host: 'orders.example.com' }, upstream: 'users', rewrite: '/by-host/:id' },
        { name: 'beta', match: { path: '/api/search', headers: { 'x-beta': '1' } }, upstream: 'orders' },
        { name: 'search', match: { path: '/api/search', query: { q: { present: true } } }, upstream: 'users' },
        { name: 'files', match: { path: '/files/*' }, upstream: 'users', rewrite: '/store/*' },
        { name: 'slow', match: { path: '/slow' }, upstream: 'slow', timeoutMs: 300 },
        { name: 'chunky', match: { prefix: '/chunky' }, upstream: 'chunky', stripPrefix: true },
        { name: 'dead', match: { path: '/dead' }, upstream: 'dead' },
        { name: 'reset', match: { path: '/reset' }, upstream: 'reset' },
        { name: 'keep-host', match: { path: '/keep-host' }, upstream: 'users', preserveHost: true },
      ],
    }, engine);
    t.teardown(async () => { await gw.stop(); await Promise.all([users, orders, slow, chunky].map((u) => u.close())); resetter.close(); });

    await t.test('routes by prefix, strips the prefix, edits headers', async (t) => {
      const r = await request(`${gw.url}/api/users/7?x=1`, { headers: { 'x-remove-me': 'no', 'x-keep': 'yes' } });
      t.equal(r.status, 200);
      t.equal(r.json.url, '/7?x=1', 'prefix stripped, query kept');
      t.equal(r.json.headers['x-gateway'], 'edge');
      t.equal(r.json.headers['x-remove-me'], undefined);
      t.equal(r.json.headers['x-keep'], 'yes');
      t.equal(r.json.headers.host, `127.0.0.1:${users.port}`, 'Host is the upstream authority by default');
      t.equal(r.headers['x-route'], 'users');
      const bare = await request(`${gw.url}/api/users`);
      t.equal(bare.json.url, '/', 'prefix itself maps to /');
    });

    await t.test('rewrite with params, host routes, header and query predicates, wildcard rewrite', async (t) => {
      t.equal((await request(`${gw.url}/api/orders/42`)).json.url, '/v2/orders/42');
      t.equal(orders.seen.at(-1)!.url, '/v2/orders/42');
      const byHost = await request(`${gw.url}/api/orders/42`, { headers: { host: 'orders.example.com:8080' } });
      t.equal(byHost.json.url, '/by-host/42', 'host-specific route wins');
      t.equal(byHost.json.headers['x-forwarded-host'], 'orders.example.com:8080');
      t.equal((await request(`${gw.url}/api/search`, { headers: { 'x-beta': '1' } })).json.url, '/api/search');
      t.equal(orders.seen.at(-1)!.url, '/api/search', 'header predicate routed to orders');
      const q = await request(`${gw.url}/api/search?q=x`);
      t.equal(q.status, 200);
      t.equal(users.seen.at(-1)!.url, '/api/search?q=x', 'query predicate routed to users');
      t.equal((await request(`${gw.url}/api/search`)).status, 404, 'no predicate matched');
      t.equal((await request(`${gw.url}/files/a/b/c.txt`)).json.url, '/store/a/b/c.txt');
    });

    await t.test('404 and 405 are JSON with a request id', async (t) => {
      const nf = await request(`${gw.url}/nowhere`);
      t.equal(nf.status, 404);
      t.equal(nf.headers['content-type'], 'application/json');
      t.equal(nf.json.error.code, 'route_not_found');
      t.equal(nf.json.error.requestId, nf.headers['x-request-id']);
      const na = await request(`${gw.url}/api/orders/1`, { method: 'DELETE' });
      t.equal(na.status, 405);
      t.equal(na.headers.allow, 'GET');
      t.equal(na.json.error.code, 'method_not_allowed');
    });

    await t.test('request ids: generated, kept when given, forwarded and echoed', async (t) => {
      const gen = await request(`${gw.url}/api/users/1`);
      t.match(gen.headers['x-request-id'], /^[0-9a-f-]{36}$/);
      t.equal(gen.json.headers['x-request-id'], gen.headers['x-request-id']);
      const given = await request(`${gw.url}/api/users/1`, { headers: { 'x-request-id': 'abc-123' } });
      t.equal(given.headers['x-request-id'], 'abc-123');
      t.equal(given.json.headers['x-request-id'], 'abc-123');
      const bad = await request(`${gw.url}/api/users/1`, { headers: { 'x-request-id': 'has spaces and <tags>' } });
      t.not(bad.headers['x-request-id'], 'has spaces and <tags>', 'unsafe ids are replaced');
    });

    await t.test('X-Forwarded-* are set; XFF is appended to', async (t) => {
      const r = await request(`${gw.url}/api/users/1`, { headers: { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil' } });
      t.equal(r.json.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
      t.equal(r.json.headers['x-forwarded-proto'], 'http', 'client-sent X-Forwarded-Proto is replaced');
      t.equal(r.json.headers['x-forwarded-host'], `127.0.0.1:${gw.port}`);
      const keep = await request(`${gw.url}/keep-host`, { headers: { host: 'public.example' } });
      t.equal(keep.json.headers.host, 'public.example', 'preserveHost forwards the client Host');
    });

    await t.test('hop-by-hop headers are removed both ways', async (t) => {
      const raw = await rawExchange(gw.port,
        'GET /api/users/1 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Private\r\nX-Private: secret\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic Zm9v\r\nUpgrade: h2c\r\nX-Public: ok\r\n\r\n', 1000);
      t.equal(statusOf(raw.text), 200);
      const seen = users.seen.at(-1)!.headers;
      for (const h of ['x-private', 'keep-alive', 'te', 'proxy-authorization', 'upgrade']) t.equal(seen[h], undefined, `${h} not forwarded`);
      t.equal(seen['x-public'], 'ok');
      const r = await request(`${gw.url}/chunky/x`);
      t.equal(r.body, 'part1-part2', 'chunked upstream body streamed through');
      t.equal(r.headers['x-secret'], undefined, 'header named by upstream Connection removed');
      t.equal(r.headers['keep-alive'], undefined);
      t.equal(r.headers['x-upstream'], 'chunky');
    });

    await t.test('HEAD and 204 carry no body', async (t) => {
      const head = await rawExchange(gw.port, 'HEAD /api/users/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 1500);
      t.equal(statusOf(head.text), 200);
      t.match(head.text, /content-length: \d+/i, 'HEAD reports the upstream length');
      t.equal(head.text.split('\r\n\r\n')[1], '', 'no body after HEAD');
      const empty = await request(`${gw.url}/chunky/empty`);
      t.equal(empty.status, 204);
      t.equal(empty.body, '');
      t.equal(empty.headers['x-empty'], 'yes');
    });

    await t.test('POST bodies are forwarded (fixed length and chunked)', async (t) => {
      const fixed = await request(`${gw.url}/api/users/new`, { method: 'POST', body: 'x'.repeat(5000), headers: { 'content-type': 'text/plain' } });
      t.equal(fixed.json.bodyBytes, 5000);
      t.equal(users.seen.at(-1)!.body.toString(), 'x'.repeat(5000));
      const chunked = await rawExchange(gw.port, 'POST /api/users/new HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n', 2000);
      t.equal(statusOf(chunked.text), 200);
      t.equal(users.seen.at(-1)!.body.toString(), 'hello world');
    });

    await t.test('upstream failures: refused 502, reset 502, timeout 504', async (t) => {
      const refused = await request(`${gw.url}/dead`);
      t.equal(refused.status, 502);
      t.equal(refused.json.error.code, 'upstream_unavailable');
      t.notMatch(refused.body, /127\.0\.0\.1|ECONNREFUSED|at /, 'no internal address or stack');
      const reset = await request(`${gw.url}/reset`);
      t.equal(reset.status, 502);
      t.equal(reset.json.error.code, 'upstream_reset');
      const started = Date.now();
      const slowR = await request(`${gw.url}/slow`);
      const took = Date.now() - started;
      t.equal(slowR.status, 504);
      t.equal(slowR.json.error.code, 'upstream_timeout');
      t.ok(took >= 280 && took < 1000, `timed out near 300 ms (took ${took})`);
    });
  });
}
