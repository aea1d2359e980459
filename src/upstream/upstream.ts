// An upstream: its targets, each with a pool of keep-alive HTTP/1.1 connections, and the
// balancer that picks one.
import { Http1Pool } from './http1-client.js';
import type { UpstreamConfig } from '../config/types.js';
import { WeightedRoundRobin } from './weighted-round-robin.js';

export interface Target {
  readonly origin: string;
  /** host:port as a Host header would carry it */
  readonly authority: string;
  readonly pool: Http1Pool;
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
        // The gateway runs its own total timeout per request (routes[].timeoutMs).
        pool: new Http1Pool(url.origin, { connections: config.connections, keepAliveTimeoutMs: config.keepAliveTimeoutMs, connectTimeoutMs: 10_000 }),
      };
    });
    this.balancer = new WeightedRoundRobin(this.targets, config.targets.map((t) => t.weight));
  }

  pick(): Target {
    return this.balancer.pick();
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
