// Per-route rate limits, compiled once per config: each rule becomes a GCRA limit and a key
// builder. The key starts with the route name and the rule's own parameters, so a reload
// that keeps a rule keeps its buckets, and a changed rule starts fresh.
import type { RateLimitRule } from '../../config/types.js';
import type { RequestHead } from '../../server/types.js';
import { findHeader } from '../../proxy/request-headers.js';
import { makeLimit, type GcraTable, type Limit } from '../../ratelimit/gcra-table.js';
import type { RedisLimiter } from '../../ratelimit/redis-limiter.js';

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

export interface LimitOptions {
  /** absent: deny for rules keyed by a header or query value (a client picks those), allow otherwise */
  onFull?: 'allow' | 'deny';
  /** an IPv6 client's "ip" key is its /N network */
  ipv6Prefix: number;
}

/** The /bits network of an IPv6 address, as text ("2001:db8:0:1::/64"); IPv4 as is. */
export function ipv6Network(ip: string, bits: number): string {
  if (!ip.includes(':') || bits >= 128) return ip;
  const groups = expandIpv6(ip);
  if (!groups) return ip;
  const out: string[] = [];
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, bits - i * 16));
    out.push((keep === 0 ? 0 : groups[i]! & (0xffff << (16 - keep)) & 0xffff).toString(16));
  }
  return `${out.join(':')}/${bits}`;
}

function expandIpv6(ip: string): number[] | null {
  let s = ip;
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) s = s.slice(0, v4.index) + ((Number(v4[1]) << 8) | Number(v4[2])).toString(16) + ':' + ((Number(v4[3]) << 8) | Number(v4[4])).toString(16);
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return null;
  const all = [...head, ...Array(halves.length === 2 ? fill : 0).fill('0'), ...tail].map((g) => parseInt(g, 16));
  return all.length === 8 && all.every((g) => g >= 0 && g <= 0xffff) ? all : null;
}

function part(spec: string, opts: LimitOptions): (k: KeyInput) => string | undefined {
  if (spec === 'ip') { const bits = opts.ipv6Prefix; return (k) => (k.ip.includes(':') ? ipv6Network(k.ip, bits) : k.ip); }
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

  constructor(routeName: string, rules: RateLimitRule[], opts: LimitOptions = { ipv6Prefix: 64 }) {
    this.rules = rules.map((r, i) => {
      const period = PERIOD_SEC[r.per];
      const burst = r.burst ?? Math.max(1, Math.floor(r.rate));
      const clientChosen = r.key.some((k) => k.startsWith('header:') || k.startsWith('query:'));
      return {
        limit: makeLimit(r.rate, period, burst, opts.onFull ?? (clientChosen ? 'deny' : 'allow')),
        prefix: `${routeName}#${i}:${r.rate}/${period}/${burst}:${r.key.join('+')}|`,
        parts: r.key.map((k) => part(k, opts)),
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
