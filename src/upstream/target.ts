// One upstream target and the state the balancers, outlier detection and the admin API
// read: in-flight count, consecutive failures, ejection.
import { Http1Pool } from './http1-client.js';

export class Target {
  readonly origin: string;
  /** host:port as a Host header would carry it */
  readonly authority: string;
  readonly pool: Http1Pool;
  inflight = 0;
  consecutiveFailures = 0;
  /** epoch ms until which the target is ejected (0: not ejected) */
  ejectedUntil = 0;
  ejections = 0;
  requests = 0;
  failures = 0;

  constructor(url: string, readonly weight: number, connections: number, keepAliveTimeoutMs: number, connectTimeoutMs: number) {
    const u = new URL(url);
    this.origin = u.origin;
    this.authority = u.host;
    this.pool = new Http1Pool(u.origin, { connections, keepAliveTimeoutMs, connectTimeoutMs });
  }

  available(now: number): boolean {
    return this.ejectedUntil <= now;
  }
}
