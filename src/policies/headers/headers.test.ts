import t from 'tap';
import { headersPolicy } from './index.js';
import { applyHeaderOps, compileHeaderOps } from './header-ops.js';
import { compileEnvFor } from '../../pipeline/test-env.js';

t.test('remove, then add (add replaces); names lower-cased', async (t) => {
  const ops = compileHeaderOps({ remove: ['Server'], add: { 'X-A': '1' } })!;
  const flat = ['server', 'x', 'x-a', 'old', 'keep', 'y'];
  applyHeaderOps(flat, ops);
  t.same(flat, ['keep', 'y', 'x-a', '1']);
});

t.test('gateway-wide response edits come first, the route\'s win; a route with none compiles nothing', async (t) => {
  const env = compileEnvFor(`
responseHeaders: { add: { x-gw: g, x-both: gw } }
upstreams: { a: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes: [ { match: { prefix: /x }, upstream: a, responseHeaders: { add: { x-both: route } } }, { match: { prefix: /y }, upstream: a } ]`);
  const p = headersPolicy.compile(env.config.routes[0]!, 'x', env)!;
  t.ok(Object.isFrozen(p));
  const res = { status: 200, headers: ['x-both', 'upstream'] };
  p.onResponse!({} as never, res);
  t.same(res.headers, ['x-gw', 'g', 'x-both', 'route']);
  t.equal(p.onRequest, undefined, 'no request edits: no onRequest hook');
  const plain = compileEnvFor(`
upstreams: { a: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes: [ { match: { prefix: /y }, upstream: a } ]`);
  t.equal(headersPolicy.compile(plain.config.routes[0]!, 'y', plain), null);
});
