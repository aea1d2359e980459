// An upstream: its targets (each with a pool of keep-alive HTTP/1.1 connections), the
// balancer that picks one, active health checks, passive outlier detection, DNS discovery
// and the optional circuit breaker. The target set can change (DNS): the balancer is then
// rebuilt, kept targets keep their state and pools, removed ones drain.
import type { UpstreamConfig } from '../config/types.js';
import { Target, type TargetSpec } from './target.js';
import type { ClientOptions } from './http1-client.js';
import { createBalancer } from './balancers/index.js';
import type { Balancer, PickContext } from './balancers/balancer.js';
import { OutlierDetector } from './outlier.js';
import { CircuitBreaker } from './breaker.js';
import { HealthChecker } from './health-check.js';
import { DnsDiscovery } from './dns-discovery.js';

export { Target };

function staticSpec(url: string, weight: number): TargetSpec {
  const u = new URL(url);
  return { connectOrigin: u.origin, authority: u.host, weight };
}

export class Upstream {
  targets: readonly Target[] = [];
  private balancer: Balancer;
  private outlierDetector: OutlierDetector;
  readonly breaker: CircuitBreaker | null;
  private readonly health: HealthChecker | null;
  private readonly dns: DnsDiscovery | null;
  private readonly staticSpecs: TargetSpec[];
  /** resolves once DNS targets have their first answers */
  readonly ready: Promise<void>;

  private readonly clientOptions: ClientOptions;

  constructor(readonly name: string, readonly config: UpstreamConfig) {
    const tls = config.tls;
    this.clientOptions = {
      connections: config.connections,
      maxQueue: config.maxQueue,
      keepAliveTimeoutMs: config.keepAliveTimeoutMs,
      connectTimeoutMs: config.connectTimeoutMs,
      tls: tls ? { ca: tls.ca, rejectUnauthorized: !tls.insecureSkipVerify, servername: tls.serverName } : undefined,
    };
    const dnsEntries = config.dns ? config.targets.filter((t) => DnsDiscovery.needs(t)) : [];
    this.staticSpecs = config.targets.filter((t) => !dnsEntries.includes(t)).map((t) => staticSpec(t.url!, t.weight));
    this.balancer = createBalancer(config.balance, []);
    this.outlierDetector = new OutlierDetector(config.outlier, []);
    this.setTargets(this.staticSpecs);
    this.breaker = config.breaker ? new CircuitBreaker(config.breaker) : null;
    this.health = config.healthCheck ? new HealthChecker(config.healthCheck, () => this.targets) : null;
    this.health?.start();
    if (config.dns && dnsEntries.length) {
      this.dns = new DnsDiscovery(config.dns, dnsEntries, (specs) => this.setTargets([...this.staticSpecs, ...specs]));
      this.ready = this.dns.start();
    } else {
      this.dns = null;
      this.ready = Promise.resolve();
    }
  }

  /** Replace the target set: same spec → same Target (state, pool); gone → drained. */
  private setTargets(specs: TargetSpec[]): void {
    const old = new Map(this.targets.map((t) => [Target.key({ connectOrigin: t.origin, authority: t.authority, weight: t.weight }), t]));
    const next: Target[] = [];
    for (const spec of specs) {
      const key = Target.key(spec);
      const kept = old.get(key);
      if (kept) { next.push(kept); old.delete(key); continue; }
      next.push(new Target(spec, this.clientOptions));
    }
    for (const gone of old.values()) void gone.pool.close();
    this.targets = next;
    this.balancer = createBalancer(this.config.balance, next);
    this.outlierDetector = new OutlierDetector(this.config.outlier, next);
  }

  pick(ctx: PickContext): Target | null {
    return this.balancer.pick(ctx);
  }

  /** Outcome of one attempt, for outlier detection and the breaker. */
  record(t: Target, ok: boolean, now: number): void {
    t.requests++;
    if (ok) this.outlierDetector.success(t);
    else { t.failures++; this.outlierDetector.failure(t, now); }
    this.breaker?.record(ok, now);
  }

  /** What GET /admin/upstreams shows. */
  status(now: number) {
    return {
      balance: this.config.balance,
      breaker: this.breaker ? this.breaker.state : 'disabled',
      targets: this.targets.map((t) => ({
        url: t.origin,
        host: t.authority,
        weight: t.weight,
        health: !t.healthy ? 'unhealthy' : t.ejectedUntil > now ? 'ejected' : 'healthy',
        ejectedForMs: Math.max(0, t.ejectedUntil - now),
        ejections: t.ejections,
        inflight: t.inflight,
        consecutiveFailures: t.consecutiveFailures,
        requests: t.requests,
        failures: t.failures,
      })),
    };
  }

  private stopBackground(): void {
    this.health?.stop();
    this.dns?.stop();
  }

  /** Let queued and in-flight requests finish, then close the connections. */
  async close(): Promise<void> {
    this.stopBackground();
    await Promise.all(this.targets.map((t) => t.pool.close()));
  }

  /** Fails every queued and in-flight request with `err`, then closes the connections. */
  async destroy(err?: Error): Promise<void> {
    this.stopBackground();
    await Promise.all(this.targets.map((t) => t.pool.destroy(err)));
  }
}
