// Cluster mode: the same GCRA, run atomically in Redis by a Lua script with Redis's own
// clock (so gateway instances with skewed clocks agree). Each request is first checked
// against the local SharedArrayBuffer table (a cheap pre-check: it denies at once what the
// global limit would deny for this instance alone), then against Redis. ioredis pipelines
// concurrent calls into one write. When Redis is unreachable or slow (commandTimeoutMs)
// the local decision stands: every instance then enforces the full limit on its own.
import { Redis } from 'ioredis';
import type { Limit } from './gcra-table.js';
import { log } from '../observability/logger.js';

const GCRA_LUA = `
local interval = tonumber(ARGV[1])
local ceiling = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local nxt = tat + interval
if nxt - now > ceiling then
  return {0, 0, math.ceil(nxt - ceiling - now), math.ceil(tat - now)}
end
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1)
return {1, math.floor((ceiling - (nxt - now)) / interval), 0, math.ceil(nxt - now)}
`;

export interface RemoteDecision { allowed: boolean; remaining: number; retryAfterNs: bigint; resetNs: bigint }

type GcraClient = Redis & { gcra(key: string, intervalUs: string, ceilingUs: string): Promise<[number, number, number, number]> };

export interface RedisLimiterOptions { url: string; commandTimeoutMs: number; keyPrefix: string }

export class RedisLimiter {
  private readonly client: GcraClient;
  private up = false;
  /** decisions taken locally because Redis was unavailable, and failed calls */
  fallbacks = 0;
  errors = 0;

  constructor(private readonly opts: RedisLimiterOptions) {
    this.client = new Redis(opts.url, {
      enableAutoPipelining: true,
      enableOfflineQueue: false, // while down, calls fail at once (local fallback) instead of queueing
      maxRetriesPerRequest: 0,
      commandTimeout: opts.commandTimeoutMs,
      retryStrategy: (n) => Math.min(n * 200, 2000),
      lazyConnect: false,
    }) as GcraClient;
    this.client.defineCommand('gcra', { numberOfKeys: 1, lua: GCRA_LUA });
    this.client.on('ready', () => {
      if (!this.up) log.info({ redis: this.where() }, 'rate limit: redis connected; limits are shared');
      this.up = true;
    });
    const down = (err?: Error) => {
      if (this.up) log.warn({ redis: this.where(), err: err?.message }, 'rate limit: redis unavailable; falling back to local limits');
      this.up = false;
    };
    this.client.on('error', (e: Error) => down(e));
    this.client.on('close', () => down());
  }

  private where(): string {
    try { const u = new URL(this.opts.url); return `${u.hostname}:${u.port || 6379}`; } catch { return 'redis'; }
  }

  get available(): boolean { return this.up; }

  status(): Record<string, unknown> {
    return { backend: 'redis', redis: this.up ? 'up' : 'down', fallbackDecisions: this.fallbacks, errors: this.errors };
  }

  /** The global decision, or null when Redis did not answer (the caller keeps its local one). */
  async take(key: string, limit: Limit): Promise<RemoteDecision | null> {
    const intervalUs = limit.intervalNs / 1000n;
    const ceilingUs = (limit.toleranceNs + limit.intervalNs) / 1000n;
    try {
      const [ok, remaining, retryUs, resetUs] = await this.client.gcra(this.opts.keyPrefix + key, String(intervalUs), String(ceilingUs));
      return { allowed: ok === 1, remaining, retryAfterNs: BigInt(retryUs) * 1000n, resetNs: BigInt(resetUs) * 1000n };
    } catch {
      this.errors++;
      this.fallbacks++;
      return null;
    }
  }

  close(): Promise<void> {
    return this.client.quit().then(() => undefined, () => { this.client.disconnect(); });
  }
}
