// CORS: preflights answered at the gateway (the upstream never sees them), allowed origins
// (exact and wildcard subdomain) get the headers on actual requests, Vary: Origin always.
import t from 'tap';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { startUpstream } from './helpers/upstream.js';
import { request } from './helpers/client.js';

for (const engine of ENGINES) {
  t.test(`${engine} engine`, async (t) => {
    const up = await startUpstream();
    const gw = await startGatewayProcess({
      upstreams: { up: { targets: [{ url: up.url }] } },
      consumers: [{ id: 'web', keys: [{ key: 'web-key-12345' }] }],
      auth: { keys: { type: 'api-key' } },
      routes: [{
        name: 'private', match: { prefix: '/private' }, upstream: 'up', auth: ['keys'],
        cors: { origins: ['https://app.example'] },
        rateLimit: [{ key: ['consumer'], rate: 1, per: 'minute', burst: 1 }],
      }, {
        name: 'app', match: { prefix: '/api', methods: ['GET', 'POST'] }, upstream: 'up',
        cors: { origins: ['https://app.example', 'https://*.example.org'], methods: ['GET', 'POST'], headers: ['content-type', 'x-trace'], exposeHeaders: ['x-request-id'], credentials: true, maxAgeSec: 600 },
      }],
    }, engine);
    t.teardown(async () => { await gw.stop(); await up.close(); });
    const preflight = (origin: string, method: string, headers?: string) => request(`${gw.url}/api/items`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': method, ...(headers ? { 'access-control-request-headers': headers } : {}) },
    });

    await t.test('preflight for an allowed origin is answered by the gateway', async (t) => {
      const before = up.seen.length;
      const r = await preflight('https://app.example', 'POST', 'Content-Type, X-Trace');
      t.equal(r.status, 204);
      t.equal(r.headers['access-control-allow-origin'], 'https://app.example');
      t.equal(r.headers['access-control-allow-methods'], 'GET, POST');
      t.equal(r.headers['access-control-allow-headers'], 'content-type, x-trace');
      t.equal(r.headers['access-control-allow-credentials'], 'true');
      t.equal(r.headers['access-control-max-age'], '600');
      t.match(r.headers.vary, /Origin/);
      t.equal(r.body, '');
      const wild = await preflight('https://shop.example.org', 'GET');
      t.equal(wild.status, 204, 'wildcard subdomain');
      t.equal(wild.headers['access-control-allow-origin'], 'https://shop.example.org');
      t.equal(up.seen.length, before, 'the upstream saw no preflight');
    });

    await t.test('preflights for other origins, methods or headers are refused', async (t) => {
      for (const [origin, method, headers] of [
        ['https://evil.example', 'GET', undefined],
        ['https://example.org', 'GET', undefined],          // the bare domain is not a subdomain
        ['http://shop.example.org', 'GET', undefined],      // wrong scheme
        ['https://app.example', 'DELETE', undefined],
        ['https://app.example', 'POST', 'authorization'],
      ] as const) {
        const r = await preflight(origin, method, headers);
        // a method no route serves on this path is a 405 (with Allow), the rest 403
        t.equal(r.status, method === 'DELETE' ? 405 : 403, `${origin} ${method} ${headers ?? ''}`);
        t.equal(r.headers['access-control-allow-origin'], undefined);
      }
    });

    await t.test('actual requests: CORS headers for allowed origins only, Vary: Origin always', async (t) => {
      const ok = await request(`${gw.url}/api/items`, { headers: { origin: 'https://app.example' } });
      t.equal(ok.status, 200);
      t.equal(ok.headers['access-control-allow-origin'], 'https://app.example');
      t.equal(ok.headers['access-control-allow-credentials'], 'true');
      t.equal(ok.headers['access-control-expose-headers'], 'x-request-id');
      t.equal(ok.headers.vary, 'Origin');
      const other = await request(`${gw.url}/api/items`, { headers: { origin: 'https://evil.example' } });
      t.equal(other.status, 200, 'proxied (the browser enforces CORS)');
      t.equal(other.headers['access-control-allow-origin'], undefined);
      t.equal(other.headers.vary, 'Origin');
      const none = await request(`${gw.url}/api/items`);
      t.equal(none.headers['access-control-allow-origin'], undefined);
    });

    await t.test("the gateway's own error answers carry CORS headers, so the browser can read them", async (t) => {
      const origin = { origin: 'https://app.example' };
      const unauth = await request(`${gw.url}/private`, { headers: origin });
      t.equal(unauth.status, 401);
      t.equal(unauth.headers['access-control-allow-origin'], 'https://app.example');
      t.equal(unauth.headers.vary, 'Origin');
      t.equal((await request(`${gw.url}/private`, { headers: { ...origin, 'x-api-key': 'web-key-12345' } })).status, 200);
      const limited = await request(`${gw.url}/private`, { headers: { ...origin, 'x-api-key': 'web-key-12345' } });
      t.equal(limited.status, 429);
      t.equal(limited.headers['access-control-allow-origin'], 'https://app.example');
    });
  });
}
