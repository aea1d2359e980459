// One upstream target and the state the balancers, health checks, outlier detection and
// the admin API read: in-flight count, health, consecutive failures, ejection.
import { isIP } from 'node:net';
import { Http1Pool, type ClientOptions, type ClientTls } from './http1-client.js';

export interface TargetSpec {
  /** where to connect: scheme://host-or-ip:port */
  connectOrigin: string;
  /** host:port for the Host header (the name, when a DNS name was resolved to an IP) */
  authority: string;
  weight: number;
}

export class Target {
  /** what the admin API shows, and the identity kept across DNS refreshes */
  readonly origin: string;
  readonly authority: string;
  readonly weight: number;
  readonly pool: Http1Pool;
  inflight = 0;
  /** active health check verdict */
  healthy = true;
  hcPasses = 0;
  hcFails = 0;
  consecutiveFailures = 0;
  /** epoch ms until which the target is ejected (0: not ejected) */
  ejectedUntil = 0;
  ejections = 0;
  requests = 0;
  failures = 0;

  /** https targets: how the certificate is checked (health checks use it too) */
  readonly tls: ClientTls | undefined;

  constructor(spec: TargetSpec, options: ClientOptions) {
    this.origin = spec.connectOrigin;
    this.authority = spec.authority;
    this.weight = spec.weight;
    // A target found through DNS connects to an IP but is still checked against its name.
    const name = spec.authority.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    this.tls = spec.connectOrigin.startsWith('https:')
      ? { ...options.tls, rejectUnauthorized: options.tls?.rejectUnauthorized ?? true, servername: options.tls?.servername ?? (isIP(name) ? undefined : name) }
      : undefined;
    this.pool = new Http1Pool(spec.connectOrigin, { ...options, tls: this.tls });
  }

  static key(spec: TargetSpec): string {
    return `${spec.connectOrigin}|${spec.authority}|${spec.weight}`;
  }

  available(now: number): boolean {
    return this.healthy && this.ejectedUntil <= now;
  }
}
