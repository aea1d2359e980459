import t from 'tap';
import { Acl, aclPolicy } from './index.js';
import { compileEnvFor, loadProblems } from '../../pipeline/test-env.js';
import type { Identity } from '../auth/identity.js';

const id = (consumer: string, groups: string[] = [], scopes: string[] = []): Identity => ({ consumer: { id: consumer, plan: undefined, groups, tenant: undefined }, scopes, headers: [] });

t.test('any listed consumer, group or scope admits', async (t) => {
  const acl = new Acl({ consumers: ['alice'], groups: ['ops'], scopes: ['orders:read'] });
  t.ok(acl.admits(id('alice')));
  t.ok(acl.admits(id('bob', ['ops'])));
  t.ok(acl.admits(id('carol', [], ['orders:read'])));
  t.notOk(acl.admits(id('dave', ['dev'], ['orders:write'])));
  t.ok(Object.isFrozen(acl));
});

t.test('allow needs auth and known consumers', async (t) => {
  t.same(loadProblems(`
consumers: [ { id: alice } ]
upstreams: { a: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes: [ { match: { prefix: / }, upstream: a, allow: { consumers: [alice, bob] } } ]`), [
    'routes[0].allow: needs auth on the route',
    'routes[0].allow.consumers[1]: unknown consumer "bob"',
  ]);
  const env = compileEnvFor(`
upstreams: { a: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes: [ { match: { prefix: / }, upstream: a } ]`);
  t.equal(aclPolicy.compile(env.config.routes[0]!, 'r', env), null);
});
