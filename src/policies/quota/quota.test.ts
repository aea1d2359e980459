import t from 'tap';
import { plansOf, quotaPolicy } from './index.js';
import { compileEnvFor, loadProblems } from '../../pipeline/test-env.js';

const yaml = `
plans: { gold: { limits: [ { rate: 1, per: minute, burst: 2 } ], quota: { requests: 3, per: day } } }
consumers: [ { id: app, plan: gold, keys: [ { key: app-key-123456 } ] }, { id: free } ]
auth: { keys: { type: api-key } }
upstreams: { a: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes: [ { match: { prefix: /x }, upstream: a, auth: [keys] }, { match: { prefix: /y }, upstream: a } ]`;

t.test('plans: the burst, then 429 rate_limited; the quota, then quota_exceeded', async (t) => {
  const env = compileEnvFor(yaml);
  const plans = plansOf(env.tableState);
  const consumer = { id: 'app', plan: 'gold', groups: [], tenant: undefined };
  const input = { head: { method: 'GET', path: '/', query: '', rawHeaders: [], remoteAddress: '1.1.1.1', scheme: 'http', http10: false }, ip: '1.1.1.1', params: {}, query: () => new URLSearchParams(), consumer: 'app' };
  const outcomes = Array.from({ length: 3 }, () => plans.check(env.shared.limiter, env.shared.quotas, consumer, input));
  t.same(outcomes.map((o) => o.allowed), [true, true, false]);
  t.match(outcomes[2], { allowed: false, error: { code: 'rate_limited' } });
  t.match(outcomes[1]!.headers, ['ratelimit-policy', String, 'ratelimit', String, 'x-quota-limit', '3', 'x-quota-remaining', '1', 'x-quota-reset', String]);
  t.ok(quotaPolicy.compile(env.config.routes[0]!, 'x', env), 'on routes with auth');
  t.equal(quotaPolicy.compile(env.config.routes[1]!, 'y', env), null, 'not without');
});

t.test('an unknown plan is a problem', async (t) => {
  t.same(loadProblems(yaml.replace('plan: gold', 'plan: platinum')), ['consumers[0].plan: unknown plan "platinum" (define it under plans)']);
});
