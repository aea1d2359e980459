// quota: usage tiers. A consumer with `plan: NAME` gets that plan's rate limits (keyed by
// consumer, across every route) and its request quota per UTC day or month, counted in the
// process-wide SharedArrayBuffer table. Runs after auth on routes that authenticate.
import type { CheckEnv, CompileEnv, Policy, PolicyFactory } from '../../pipeline/policy.js';
import type { RequestCtx } from '../../pipeline/request-ctx.js';
import { keyInputOf, rateProperties } from '../rate-limit/index.js';
import { PlanPolicies } from './plan-limits.js';

const PLANS = 'quota.plans';

/** The compiled plans of a table (the admin usage endpoint reads them). */
export function plansOf(state: ReadonlyMap<string, unknown>): PlanPolicies {
  return state.get(PLANS) as PlanPolicies;
}

class QuotaRoute implements Policy {
  readonly id = 'quota';
  constructor(private readonly plans: PlanPolicies, private readonly env: CompileEnv) { Object.freeze(this); }

  onRequest(ctx: RequestCtx): 'continue' | 'responded' {
    const consumer = ctx.identity?.consumer;
    if (consumer?.plan === undefined) return 'continue';
    const { limiter, quotas } = this.env.shared;
    const plan = this.plans.check(limiter, quotas, consumer, keyInputOf(ctx));
    if (!plan.allowed) {
      if (plan.error.code === 'quota_exceeded') ctx.table.observer.metrics?.quotaExceeded(consumer.plan);
      ctx.fail(plan.error, plan.headers);
      return 'responded';
    }
    ctx.addHeaders(plan.headers);
    return 'continue';
  }
}

export const quotaPolicy: PolicyFactory = {
  id: 'quota',
  summary: 'Plans: per-consumer rate limits across routes and a daily or monthly request quota (429).',
  configSchema: {
    plans: {
      type: 'object',
      default: {},
      maxProperties: 10000,
      propertyNames: { pattern: '^[A-Za-z0-9_.-]+$' },
      description: 'Usage tiers: consumers with `plan: NAME` get these limits (keyed by consumer, across all routes) and quota.',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          limits: { type: 'array', maxItems: 16, items: { type: 'object', additionalProperties: false, required: ['rate'], properties: rateProperties }, default: [], description: 'Rate limits of the plan.' },
          quota: {
            type: 'object',
            additionalProperties: false,
            required: ['requests'],
            description: 'Requests per UTC period; past it: 429 quota_exceeded until the period ends.',
            properties: {
              requests: { type: 'integer', minimum: 0, description: 'Requests allowed per period.' },
              per: { enum: ['day', 'month'], default: 'month', description: 'The period.' },
            },
          },
        },
      },
    },
  },
  check(config, { problems }: CheckEnv) {
    config.consumers.forEach((c, i) => {
      if (c.plan !== undefined && !(c.plan in config.plans)) problems.push(`consumers[${i}].plan: unknown plan "${c.plan}" (define it under plans)`);
    });
  },
  prepareTable({ config, tableState }) {
    tableState.set(PLANS, new PlanPolicies(config.plans, config.rateLimit));
  },
  compile(route, _name, env) {
    if (!route.auth?.length || !hasPlans(env)) return null;
    return new QuotaRoute(plansOf(env.tableState), env);
  },
};

function hasPlans(env: CompileEnv): boolean {
  return env.config.consumers.some((c) => c.plan !== undefined);
}
