// Per-route rate limits, compiled once per config: each rule becomes a GCRA limit and a key
// builder. The key starts with the route name and the rule's own parameters, so a reload
// that keeps a rule keeps its buckets, and a changed rule starts fresh.
import type { RateLimitRule } from '../config/types.js';
import type { RequestHead } from '../server/types.js';
import { findHeader } from '../proxy/request-headers.js';
import { makeLimit, type GcraTable, type Limit } from './gcra-table.js';
import type { RedisLimiter } from './redis-limiter.js';

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
  /** RateLimit-Policy when every rule applied (the usual case) */
  private readonly allPolicies: string;

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
    this.allPolicies = this.rules.map((r) => r.policy).join(", ");
  }

  /**
   * Every rule must pass. Local-only: synchronous. With `remote` (cluster mode) and Redis up,
   * rules that pass locally are then decided by Redis: the answer is a promise.
   */
  check(table: GcraTable, input: KeyInput): LimitOutcome;
  check(table: GcraTable, input: KeyInput, remote: RedisLimiter | null): LimitOutcome | Promise<LimitOutcome>;
  check(table: GcraTable, input: KeyInput, remote: RedisLimiter | null = null): LimitOutcome | Promise<LimitOutcome> {
    // Hot path (every request of a limited route): no arrays or objects unless needed.
    let applied = 0;
    let policies: string[] | null = null;
    let tightRemaining = Infinity, tightBurst = 0, tightReset = 0n;
    let asked: Array<{ rule: CompiledRule; key: string }> | null = null;
    const rules = this.rules;
    for (let r = 0; r < rules.length; r++) {
      const rule = rules[r]!;
      let key = rule.prefix;
      let missing = false;
      for (const p of rule.parts) {
        const v = p(input);
        if (v === undefined) { missing = true; break; }
        key += v.length > 256 ? v.slice(0, 256) : v;
        key += '\u0000';
      }
      if (missing) { (policies ??= rules.slice(0, r).map((x) => x.policy)); continue; }
      applied++;
      policies?.push(rule.policy);
      const d = table.take(key, rule.limit);
      if (!d.allowed) return denied(rule, d.retryAfterNs);
      if (d.remaining < tightRemaining) { tightRemaining = d.remaining; tightBurst = rule.limit.burst; tightReset = d.resetNs; }
      if (remote) (asked ??= []).push({ rule, key });
    }
    if (applied === 0) return ALLOWED;
    const policy = policies ? policies.join(', ') : this.allPolicies;
    if (asked && remote) {
      if (remote.available) return this.global(remote, asked, policy);
      remote.fallbacks++;
    }
    return allowed(policy, tightBurst, tightRemaining, tightReset);
  }

  private async global(remote: RedisLimiter, asked: Array<{ rule: CompiledRule; key: string }>, policy: string): Promise<LimitOutcome> {
    const answers = await Promise.all(asked.map((a) => remote.take(a.key, a.rule.limit)));
    let tightest: { remaining: number; burst: number; resetNs: bigint } | null = null;
    for (let i = 0; i < asked.length; i++) {
      const d = answers[i];
      const rule = asked[i]!.rule;
      if (!d) continue; // Redis did not answer: the local decision (allowed) stands
      if (!d.allowed) return denied(rule, d.retryAfterNs);
      if (!tightest || d.remaining < tightest.remaining) tightest = { remaining: d.remaining, burst: rule.limit.burst, resetNs: d.resetNs };
    }
    return tightest ? allowed(policy, tightest.burst, tightest.remaining, tightest.resetNs) : allowed(policy, asked[0]!.rule.limit.burst, 0, asked[0]!.rule.limit.intervalNs);
  }
}

const ALLOWED: LimitOutcome = { allowed: true, headers: [] };

function denied(rule: CompiledRule, retryAfterNs: bigint): LimitOutcome {
  const retry = Math.max(1, Math.ceil(Number(retryAfterNs) / 1e9));
  return {
    allowed: false,
    headers: ['ratelimit-policy', rule.policy, 'ratelimit', `limit=${rule.limit.burst}, remaining=0, reset=${retry}`, 'retry-after', String(retry)],
  };
}

function allowed(policy: string, burst: number, remaining: number, resetNs: bigint): LimitOutcome {
  return {
    allowed: true,
    headers: ['ratelimit-policy', policy, 'ratelimit', `limit=${burst}, remaining=${remaining}, reset=${Math.max(1, Math.ceil(Number(resetNs) / 1e9))}`],
  };
}
