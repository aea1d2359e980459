// rate-limit: per-route GCRA limits in the process-wide SharedArrayBuffer table (every
// front-end thread decides against the same buckets), optionally shared across gateway
// instances through Redis (`rateLimit.backend: redis`). Denied: 429 with RateLimit-* and
// Retry-After; allowed: the RateLimit-* headers go on the answer.
import { GatewayError } from '../../errors.js';
import type { CompileEnv, Policy, PolicyFactory, SharedTables, Verdict } from '../../pipeline/policy.js';
import type { RequestCtx } from '../../pipeline/request-ctx.js';
import { RouteLimits, type KeyInput, type LimitOutcome } from './route-limits.js';

/** The rate and burst of one limit (shared with plans). */
export const rateProperties = {
  rate: { type: 'number', exclusiveMinimum: 0, maximum: 1e9, description: 'Requests per period.' },
  per: { enum: ['second', 'minute', 'hour', 'day'], default: 'second', description: 'The period.' },
  burst: { type: 'integer', minimum: 1, maximum: 1e9, description: 'Requests allowed at once (default: rate, at least 1).' },
} as const;

/** The key input of a request for limits and plans. */
export function keyInputOf(ctx: RequestCtx): KeyInput {
  return { head: ctx.head, ip: ctx.clientIp, params: ctx.params, query: () => ctx.query(), consumer: ctx.identity?.consumer.id };
}

class RateLimitRoute implements Policy {
  readonly id = 'rate-limit';
  constructor(private readonly limits: RouteLimits, private readonly shared: SharedTables) { Object.freeze(this); }

  onRequest(ctx: RequestCtx): Verdict | Promise<Verdict> {
    const o = this.limits.check(this.shared.limiter, keyInputOf(ctx), this.shared.remoteLimiter);
    return o instanceof Promise ? o.then((r) => decide(ctx, r)) : decide(ctx, o);
  }
}

function decide(ctx: RequestCtx, o: LimitOutcome): Verdict {
  ctx.table.observer.metrics?.rateLimitDecision(ctx.route!.name, o.allowed);
  if (!o.allowed) { ctx.fail(new GatewayError('rate_limited', 'rate limit exceeded'), o.headers); return 'responded'; }
  ctx.addHeaders(o.headers);
  return 'continue';
}

export const rateLimitPolicy: PolicyFactory = {
  id: 'rate-limit',
  summary: 'Per-route GCRA rate limits keyed by ip, route, consumer, header, path parameter or query value (429).',
  configSchema: {
    rateLimit: {
      type: 'object',
      additionalProperties: false,
      description: 'The shared limiter table (process-wide; size changes need a restart).',
      properties: {
        tableSize: { type: 'integer', minimum: 64, maximum: 16777216, default: 65536, description: 'Keys the table holds (rounded up to a power of two).' },
        onFull: { enum: ['allow', 'deny'], description: 'When no slot is free for a new key: let the request through (fail open) or answer 429. Default: deny for limits keyed by a header or query value (a client picks those), allow otherwise.' },
        ipv6Prefix: { type: 'integer', minimum: 32, maximum: 128, default: 64, description: 'An "ip" key of an IPv6 client is its /N network (one host usually holds a whole /64).' },
        backend: { enum: ['local', 'redis'], default: 'local', description: 'redis: route limits are shared by every gateway instance using the same Redis.' },
        redis: {
          type: 'object',
          additionalProperties: false,
          description: 'The Redis of the redis backend.',
          properties: {
            url: { type: 'string', pattern: '^rediss?://', default: 'redis://127.0.0.1:6379', description: 'redis:// or rediss:// URL.' },
            commandTimeoutMs: { type: 'integer', minimum: 1, maximum: 10000, default: 50, description: 'A slower answer counts as Redis unavailable (local decision).' },
            keyPrefix: { type: 'string', maxLength: 256, default: 'gw:rl:', description: 'Prefix of the Redis keys.' },
          },
          default: {},
        },
      },
      default: {},
    },
  },
  routeSchema: {
    rateLimit: {
      type: 'array',
      maxItems: 16,
      description: 'Every limit must pass. A key is built from its parts; requests missing a part are not limited by that limit.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['key', 'rate'],
        properties: {
          key: { type: 'array', minItems: 1, maxItems: 8, items: { type: 'string', pattern: '^(ip|route|consumer|header:[A-Za-z0-9-]+|param:[A-Za-z_][A-Za-z0-9_]*|query:[A-Za-z0-9_.-]+)$' }, description: 'Parts of the key: ip, route, consumer, header:NAME, param:NAME, query:NAME.' },
          ...rateProperties,
        },
      },
    },
  },
  compile(route, name, { config, shared }: CompileEnv) {
    if (!route.rateLimit?.length) return null;
    return new RateLimitRoute(new RouteLimits(name, route.rateLimit, config.rateLimit), shared);
  },
};
