import t from 'tap';
import { rateLimitPolicy } from './index.js';
import { compileEnvFor, loadProblems } from '../../pipeline/test-env.js';

t.test('a route with limits compiles one frozen policy at load; others none', async (t) => {
  const env = compileEnvFor(`
upstreams: { a: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes: [ { match: { prefix: /x }, upstream: a, rateLimit: [ { key: [ip], rate: 5 } ] }, { match: { prefix: /y }, upstream: a } ]`);
  const p = rateLimitPolicy.compile(env.config.routes[0]!, 'x', env);
  t.ok(p && Object.isFrozen(p) && p.onRequest);
  t.equal(rateLimitPolicy.compile(env.config.routes[1]!, 'y', env), null);
});

t.test('keys, rates and table sizes are bounded by the schema', async (t) => {
  t.match(loadProblems(`
rateLimit: { tableSize: 10 }
upstreams: { a: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes: [ { match: { prefix: / }, upstream: a, rateLimit: [ { key: [cookie:x], rate: 0 } ] } ]`), [
    /routes\[0\]\.rateLimit\[0\]\.key\[0\]: must match pattern/,
    /routes\[0\]\.rateLimit\[0\]\.rate: must be > 0/,
    /rateLimit\.tableSize: must be >= 64/,
  ]);
});
