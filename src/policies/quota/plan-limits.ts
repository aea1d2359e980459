// Usage tiers: a consumer's plan gives it rate limits (keyed by consumer, across every
// route) and a request quota per UTC day or month. Requests of consumers with a plan are
// counted per period even without a quota: that count is what the usage endpoint reports.
import type { PlanConfig } from '../../config/types.js';
import { GatewayError } from '../../errors.js';
import type { Consumer } from '../auth/consumers.js';
import type { GcraTable } from '../../ratelimit/gcra-table.js';
import { periodOf, type QuotaTable } from '../../ratelimit/quota-table.js';
import { RouteLimits, type KeyInput, type LimitOptions } from '../rate-limit/route-limits.js';

interface CompiledPlan { name: string; limits: RouteLimits | null; quota: PlanConfig['quota'] | null }

export type PlanOutcome = { allowed: true; headers: string[] } | { allowed: false; error: GatewayError; headers: string[] };

const NONE: PlanOutcome = { allowed: true, headers: [] };

export class PlanPolicies {
  private readonly plans = new Map<string, CompiledPlan>();

  constructor(configs: Record<string, PlanConfig>, opts?: LimitOptions) {
    for (const [name, p] of Object.entries(configs)) {
      const rules = p.limits.map((l) => ({ ...l, key: ['consumer'] }));
      this.plans.set(name, { name, limits: rules.length ? new RouteLimits(`plan:${name}`, rules, opts) : null, quota: p.quota ?? null });
    }
  }

  check(limiter: GcraTable, quotas: QuotaTable, consumer: Consumer, input: KeyInput): PlanOutcome {
    const plan = consumer.plan === undefined ? undefined : this.plans.get(consumer.plan);
    if (!plan) return NONE;
    let headers: string[] = [];
    if (plan.limits) {
      const o = plan.limits.check(limiter, input);
      if (!o.allowed) return { allowed: false, error: new GatewayError('rate_limited', `rate limit of plan "${plan.name}" exceeded`), headers: o.headers };
      headers = o.headers;
    }
    const now = Date.now();
    if (!plan.quota) {
      quotas.take(consumer.id, 'month', Infinity, now);
      return headers.length ? { allowed: true, headers } : NONE;
    }
    const q = plan.quota;
    const d = quotas.take(consumer.id, q.per, q.requests, now);
    const reset = String(Math.max(1, Math.ceil((d.endsAt - now) / 1000)));
    const quotaHeaders = ['x-quota-limit', String(q.requests), 'x-quota-remaining', String(Math.max(0, q.requests - d.used)), 'x-quota-reset', reset];
    if (!d.allowed) {
      return {
        allowed: false,
        error: new GatewayError('quota_exceeded', `quota of ${q.requests} requests per ${q.per} is used up`),
        headers: [...quotaHeaders, 'retry-after', reset],
      };
    }
    return { allowed: true, headers: headers.length ? [...headers, ...quotaHeaders] : quotaHeaders };
  }

  /** What the usage endpoint shows for a consumer. */
  usage(quotas: QuotaTable, consumer: Consumer): Record<string, unknown> {
    const plan = consumer.plan === undefined ? undefined : this.plans.get(consumer.plan);
    const per = plan?.quota?.per ?? 'month';
    const used = plan ? quotas.used(consumer.id, per) : 0;
    const now = Date.now();
    return {
      consumer: consumer.id,
      plan: consumer.plan ?? null,
      period: per,
      used,
      quota: plan?.quota ? { requests: plan.quota.requests, remaining: Math.max(0, plan.quota.requests - used) } : null,
      resetsAt: new Date(periodOf(per, now).endsAt).toISOString(),
      counted: !!plan,
    };
  }
}
