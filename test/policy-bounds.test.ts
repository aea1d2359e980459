// Unit checks of the limiter and breaker hardening: IPv6 keys by network, onFull by who
// chooses the key, and a breaker whose half-open state cannot get stuck.
import t from 'tap';
import { GcraTable } from '../src/ratelimit/gcra-table.js';
import { RouteLimits, ipv6Network, type KeyInput } from '../src/policies/rate-limit/route-limits.js';
import { CircuitBreaker } from '../src/upstream/breaker.js';
import type { RequestHead } from '../src/server/types.js';

const head = (headers: string[] = []): RequestHead => ({ method: 'GET', path: '/', query: '', rawHeaders: headers, remoteAddress: '', scheme: 'http', http10: false });
const input = (ip: string, headers: string[] = []): KeyInput => ({ head: head(headers), ip, params: {}, query: () => new URLSearchParams(), consumer: undefined });

t.test('IPv6 "ip" keys are the /64 (configurable); IPv4 keys the address', async (t) => {
  t.equal(ipv6Network('2001:db8:1:2:aaaa:bbbb:cccc:dddd', 64), '2001:db8:1:2:0:0:0:0/64');
  t.equal(ipv6Network('2001:db8:1:2::1', 64), ipv6Network('2001:db8:1:2:ffff::9', 64), 'one /64, one key');
  t.not(ipv6Network('2001:db8:1:2::1', 64), ipv6Network('2001:db8:1:3::1', 64));
  t.equal(ipv6Network('2001:db8:1:2::1', 48), '2001:db8:1:0:0:0:0:0/48');
  t.equal(ipv6Network('::ffff:10.0.0.1', 128), '::ffff:10.0.0.1', '/128 keeps the address');
  t.equal(ipv6Network('10.1.2.3', 64), '10.1.2.3');
  const limits = new RouteLimits('r', [{ key: ['ip'], rate: 1, per: 'hour', burst: 1 }], { ipv6Prefix: 64 });
  const table = new GcraTable(GcraTable.allocate(64));
  t.ok(limits.check(table, input('2001:db8::1')).allowed);
  t.notOk(limits.check(table, input('2001:db8::2')).allowed, 'another address of the same /64 shares the bucket');
  t.ok(limits.check(table, input('2001:db8:0:1::1')).allowed, 'another /64 has its own');
});

t.test('a full table refuses new keys a client chooses, and lets new ip keys through', async (t) => {
  const table = new GcraTable(GcraTable.allocate(64));
  const byHeader = new RouteLimits('h', [{ key: ['header:x-user'], rate: 1, per: 'hour', burst: 5 }], { ipv6Prefix: 64 });
  const byIp = new RouteLimits('i', [{ key: ['ip'], rate: 1, per: 'hour', burst: 5 }], { ipv6Prefix: 64 });
  // fill every slot with long-lived header keys (a client inventing keys)
  for (let i = 0; i < 2000; i++) byHeader.check(table, input('1.1.1.1', ['x-user', `u${i}`]));
  t.ok(table.stats().full > 0n, 'the table filled up');
  let refused = 0;
  for (let i = 0; i < 50; i++) if (!byHeader.check(table, input('1.1.1.1', ['x-user', `new${i}`])).allowed) refused++;
  t.equal(refused, 50, 'new header keys: refused (onFull deny by default)');
  let let_ = 0;
  for (let i = 0; i < 50; i++) if (byIp.check(table, input(`9.9.${i}.1`)).allowed) let_++;
  t.equal(let_, 50, 'new ip keys: allowed (onFull allow by default)');
  const explicit = new RouteLimits('e', [{ key: ['header:x-user'], rate: 1, per: 'hour', burst: 5 }], { ipv6Prefix: 64, onFull: 'allow' });
  t.ok(explicit.check(table, input('1.1.1.1', ['x-user', 'another'])).allowed, 'rateLimit.onFull overrides the default');
});

t.test('breaker: a probe without an outcome gives its slot back; half-open has a time limit', async (t) => {
  const b = new CircuitBreaker({ failureRatio: 0.5, windowMs: 10_000, minRequests: 2, openMs: 100, halfOpenRequests: 1, halfOpenTimeoutMs: 1000 });
  b.record(false, 0); b.record(false, 1);
  t.equal(b.state, 'open');
  t.equal(b.allow(50), false, 'open: refused');
  t.equal(b.allow(200), 'probe', 'after openMs: one probe');
  t.equal(b.state, 'half-open');
  t.equal(b.allow(201), false, 'the probe slot is taken');
  b.releaseProbe();
  t.equal(b.allow(202), 'probe', 'released: the next request probes');
  t.equal(b.allow(1300), false, 'a probe unanswered past halfOpenTimeoutMs reopens the breaker');
  t.equal(b.state, 'open');
  t.equal(b.allow(1450), 'probe', 'and half-opens again after openMs');
  b.record(true, 1460);
  t.equal(b.state, 'closed', 'a successful probe closes it');
  t.equal(b.allow(1470), true);
});
