// An upstream: its targets, each with a keep-alive undici Pool, and the balancer that
// picks one. Pools use undici's dispatch API (measured fastest, see docs/architecture.md).
import { Pool } from 'undici';
import type { UpstreamConfig } from '../config/types.js';
import { WeightedRoundRobin } from './weighted-round-robin.js';

export interface Target {
  readonly origin: string;
  /** host:port as a Host header would carry it */
  readonly authority: string;
  readonly pool: Pool;
}

export class Upstream {
  readonly targets: readonly Target[];
  private readonly balancer: WeightedRoundRobin<Target>;

  constructor(readonly name: string, readonly config: UpstreamConfig) {
    this.targets = config.targets.map((t) => {
      const url = new URL(t.url);
      return {
        origin: url.origin,
        authority: url.host,
        pool: new Pool(url.origin, {
          connections: config.connections,
          pipelining: 1,
          keepAliveTimeout: config.keepAliveTimeoutMs,
          keepAliveMaxTimeout: Math.max(config.keepAliveTimeoutMs, 600_000),
          // The gateway runs its own total timeout per request (routes[].timeoutMs).
          headersTimeout: 0,
          bodyTimeout: 0,
          connectTimeout: 10_000,
        }),
      };
    });
    this.balancer = new WeightedRoundRobin(this.targets, config.targets.map((t) => t.weight));
  }

  pick(): Target {
    return this.balancer.pick();
  }

  /** Let queued and in-flight requests finish, then close the connections. */
  async close(): Promise<void> {
    await Promise.all(this.targets.map((t) => t.pool.close().catch(() => undefined)));
  }

  /** Fails every queued and in-flight request with `err`, then closes the connections. */
  async destroy(err?: Error): Promise<void> {
    await Promise.all(this.targets.map((t) => t.pool.destroy(err ?? null).catch(() => undefined)));
  }
}
