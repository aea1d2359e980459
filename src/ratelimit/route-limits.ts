// Per-route rate limits, compiled once per config: each rule becomes a GCRA limit and a key
// builder. The key starts with the route name and the rule's own parameters, so a reload
// that keeps a rule keeps its buckets, and a changed rule starts fresh.
import type { RateLimitRule } from '../config/types.js';
import type { RequestHead } from '../server/types.js';
import { findHeader } from '../proxy/request-headers.js';
import { makeLimit, type GcraTable, type Limit } from './gcra-table.js';

const PERIOD_SEC = { second: 1, minute: 60, hour: 3600, day: 86400 } as const;

export interface KeyInput { head: RequestHead; ip: string; params: Record<string, string>; query: () => URLSearchParams; consumer: string | undefined }

interface CompiledRule {
  limit: Limit;
  prefix: string;
  parts: Array<(k: KeyInput) => string | undefined>;
  /** RateLimit-Policy item */
  policy: string;
}

export interface LimitOutcome {
  allowed: boolean;
  /** response headers: RateLimit-Policy and RateLimit (and Retry-After when denied) */
  headers: string[];
}

function part(spec: string): (k: KeyInput) => string | undefined {
  if (spec === 'ip') return (k) => k.ip;
  if (spec === 'route') return () => '';
  if (spec === 'consumer') return (k) => k.consumer;
  const [kind, name] = [spec.slice(0, spec.indexOf(':')), spec.slice(spec.indexOf(':') + 1)];
  if (kind === 'header') { const h = name.toLowerCase(); return (k) => findHeader(k.head.rawHeaders, h); }
  if (kind === 'param') return (k) => k.params[name];
  return (k) => k.query().get(name) ?? undefined;
}

export class RouteLimits {
  private readonly rules: CompiledRule[];

  constructor(routeName: string, rules: RateLimitRule[]) {
    this.rules = rules.map((r, i) => {
      const period = PERIOD_SEC[r.per];
      const burst = r.burst ?? Math.max(1, Math.floor(r.rate));
      return {
        limit: makeLimit(r.rate, period, burst),
        prefix: `${routeName}#${i}:${r.rate}/${period}/${burst}:${r.key.join('+')}|`,
        parts: r.key.map(part),
        policy: `${r.rate};w=${period};burst=${burst}`,
      };
    });
  }

  check(table: GcraTable, input: KeyInput): LimitOutcome {
    let tightest: { remaining: number; burst: number; resetNs: bigint } | null = null;
    const policies: string[] = [];
    for (const rule of this.rules) {
      let key = rule.prefix;
      let missing = false;
      for (const p of rule.parts) {
        const v = p(input);
        if (v === undefined) { missing = true; break; }
        key += v.length > 256 ? v.slice(0, 256) : v;
        key += '\u0000';
      }
      if (missing) continue;
      policies.push(rule.policy);
      const d = table.take(key, rule.limit);
      if (!d.allowed) {
        const retry = Math.max(1, Math.ceil(Number(d.retryAfterNs) / 1e9));
        return {
          allowed: false,
          headers: ['ratelimit-policy', rule.policy, 'ratelimit', `limit=${rule.limit.burst}, remaining=0, reset=${retry}`, 'retry-after', String(retry)],
        };
      }
      if (!tightest || d.remaining < tightest.remaining) tightest = { remaining: d.remaining, burst: rule.limit.burst, resetNs: d.resetNs };
    }
    if (!tightest) return { allowed: true, headers: [] };
    return {
      allowed: true,
      headers: ['ratelimit-policy', policies.join(', '), 'ratelimit', `limit=${tightest.burst}, remaining=${tightest.remaining}, reset=${Math.max(1, Math.ceil(Number(tightest.resetNs) / 1e9))}`],
    };
  }
}
