// An upstream: its targets (each with a pool of keep-alive HTTP/1.1 connections), the
// balancer that picks one, passive outlier detection, and the optional circuit breaker.
import type { UpstreamConfig } from '../config/types.js';
import { Target } from './target.js';
import { createBalancer } from './balancers/index.js';
import type { Balancer, PickContext } from './balancers/balancer.js';
import { OutlierDetector } from './outlier.js';
import { CircuitBreaker } from './breaker.js';

export { Target };

export class Upstream {
  readonly targets: readonly Target[];
  private readonly balancer: Balancer;
  readonly outlier: OutlierDetector;
  readonly breaker: CircuitBreaker | null;

  constructor(readonly name: string, readonly config: UpstreamConfig) {
    this.targets = config.targets.map((t) => new Target(t.url, t.weight, config.connections, config.keepAliveTimeoutMs, config.connectTimeoutMs));
    this.balancer = createBalancer(config.balance, this.targets);
    this.outlier = new OutlierDetector(config.outlier, this.targets);
    this.breaker = config.breaker ? new CircuitBreaker(config.breaker) : null;
  }

  pick(ctx: PickContext): Target | null {
    return this.balancer.pick(ctx);
  }

  /** Outcome of one attempt, for outlier detection and the breaker. */
  record(t: Target, ok: boolean, now: number): void {
    t.requests++;
    if (ok) this.outlier.success(t);
    else { t.failures++; this.outlier.failure(t, now); }
    this.breaker?.record(ok, now);
  }

  /** What GET /admin/upstreams shows. */
  status(now: number) {
    return {
      balance: this.config.balance,
      breaker: this.breaker ? this.breaker.state : 'disabled',
      targets: this.targets.map((t) => ({
        url: t.origin,
        weight: t.weight,
        health: t.available(now) ? 'healthy' : 'ejected',
        ejectedForMs: Math.max(0, t.ejectedUntil - now),
        ejections: t.ejections,
        inflight: t.inflight,
        consecutiveFailures: t.consecutiveFailures,
        requests: t.requests,
        failures: t.failures,
      })),
    };
  }

  /** Let queued and in-flight requests finish, then close the connections. */
  async close(): Promise<void> {
    await Promise.all(this.targets.map((t) => t.pool.close()));
  }

  /** Fails every queued and in-flight request with `err`, then closes the connections. */
  async destroy(err?: Error): Promise<void> {
    await Promise.all(this.targets.map((t) => t.pool.destroy(err)));
  }
}
