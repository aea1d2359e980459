import t from 'tap';
import { corsPolicy } from './index.js';
import { CorsPolicy } from './cors-policy.js';
import { compileEnvFor, loadProblems } from '../../pipeline/test-env.js';

t.test('preflights: origin, method and headers must all be allowed', async (t) => {
  const c = new CorsPolicy({ origins: ['https://app.example', 'https://*.example.org'], methods: ['GET', 'POST'], headers: ['content-type'], credentials: true, maxAgeSec: 60 });
  const ok = c.preflight('https://shop.example.org', 'post', 'Content-Type');
  t.ok(ok);
  const h = Object.fromEntries(ok!.reduce<string[][]>((a, v, i) => (i % 2 ? a : [...a, [v, ok![i + 1]!]]), []));
  t.equal(h['access-control-allow-origin'], 'https://shop.example.org', 'the origin is echoed with credentials');
  t.equal(h['access-control-allow-credentials'], 'true');
  t.equal(h['access-control-max-age'], '60');
  t.equal(c.preflight('https://example.org', 'GET', undefined), null, 'the bare domain is not a subdomain');
  t.equal(c.preflight('https://app.example', 'DELETE', undefined), null);
  t.equal(c.preflight('https://app.example', 'GET', 'x-other'), null);
  t.same(c.response('https://evil.example'), ['vary', 'Origin'], 'others get Vary only');
});

t.test('a route with cors compiles a frozen policy; the preflight hook exists only when some route has cors', async (t) => {
  const env = compileEnvFor(`
upstreams: { a: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes: [ { match: { prefix: /x }, upstream: a, cors: { origins: ["*"] } }, { match: { prefix: /y }, upstream: a } ]`);
  t.ok(Object.isFrozen(corsPolicy.compile(env.config.routes[0]!, 'x', env)));
  t.equal(corsPolicy.compile(env.config.routes[1]!, 'y', env), null);
  t.ok(corsPolicy.compileGateway!(env));
  t.match(loadProblems(`
upstreams: { a: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes: [ { match: { prefix: /x }, upstream: a, cors: { origins: ["ftp://x"] } } ]`), [/routes\[0\]\.cors\.origins\[0\]: must match pattern/]);
});
