import t from 'tap';
import { ipFilterPolicy } from './index.js';
import { IpFilter } from './ip-filter.js';
import { compileEnvFor, loadProblems } from '../../pipeline/test-env.js';

const yaml = (route: string, top = '') => `${top}
upstreams: { a: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes: [ { match: { prefix: / }, upstream: a ${route} } ]`;

t.test('deny wins; an allow list admits only its members; IPv6 and mapped IPv4', async (t) => {
  const f = new IpFilter({ allow: ['10.0.0.0/8', '2001:db8::/32'], deny: ['10.1.0.0/16'] });
  t.ok(f.permits('10.2.3.4'));
  t.notOk(f.permits('10.1.2.3'), 'denied inside an allowed range');
  t.notOk(f.permits('192.168.1.1'), 'not in the allow list');
  t.ok(f.permits('2001:db8::1'));
  t.notOk(f.permits('not an ip'));
  t.ok(new IpFilter({ deny: ['1.2.3.4'] }).permits('1.2.3.5'), 'deny only: the rest pass');
});

t.test('compiles per route and gateway-wide, frozen; nothing for routes without it', async (t) => {
  const env = compileEnvFor(yaml(', ipFilter: { deny: [1.2.3.4] }', 'ipFilter: { allow: [127.0.0.0/8] }'));
  const route = ipFilterPolicy.compile(env.config.routes[0]!, 'r', env);
  t.ok(route && Object.isFrozen(route), 'a frozen route policy');
  t.ok(ipFilterPolicy.compileGateway!(env), 'a gateway-wide one');
  const none = compileEnvFor(yaml(''));
  t.equal(ipFilterPolicy.compile(none.config.routes[0]!, 'r', none), null);
  t.equal(ipFilterPolicy.compileGateway!(none), null);
});

t.test('bad CIDRs are config problems with their paths', async (t) => {
  t.same(loadProblems(yaml(', ipFilter: { allow: [10.0.0.0/33] }', 'ipFilter: { deny: [nope] }')), [
    'ipFilter.deny[0]: "nope" is not an IP address or CIDR',
    'routes[0].ipFilter.allow[0]: "10.0.0.0/33" has an invalid prefix length',
  ]);
});
