// What one thread counts per request, in the shared store (store.ts): called once per
// exchange when it is over. Label values are bounded by the config (route and upstream
// names, plans) or by the gateway (method: the standard ones or _OTHER; a three-digit
// code); the store caps each metric's series anyway.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Family, MetricsStore } from './store.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);
/** OpenTelemetry's name for a method outside the standard set (a client can send any token). */
export const methodLabel = (m: string): string => (METHODS.has(m) ? m : '_OTHER');

export interface ExchangeFigures {
  route: string;
  method: string;
  /** 499 when the client left before an answer */
  status: number;
  source: 'gateway' | 'upstream';
  consumer: string | null;
  /** seconds */
  duration: number;
  bytesIn: number;
  bytesOut: number;
  /** the upstream's name and its time to response headers (seconds), when one was called */
  upstream: string | null;
  upstreamSeconds: number;
  retries: number;
}

export class RequestMetrics {
  private readonly requests: Family;
  private readonly duration: Family;
  private readonly upstream: Family;
  private readonly own: Family;
  private readonly bytesIn: Family;
  private readonly bytesOut: Family;
  private readonly retries: Family;
  private readonly ratelimit: Family;
  private readonly quota: Family;
  private readonly ejections: Family;
  private readonly withConsumer: boolean;
  private readonly labels: string[];

  constructor(readonly store: MetricsStore) {
    this.requests = store.family('gateway_http_requests_total');
    this.duration = store.family('gateway_http_request_duration_seconds');
    this.upstream = store.family('gateway_upstream_duration_seconds');
    this.own = store.family('gateway_http_gateway_duration_seconds');
    this.bytesIn = store.family('gateway_http_request_bytes_total');
    this.bytesOut = store.family('gateway_http_response_bytes_total');
    this.retries = store.family('gateway_upstream_retries_total');
    this.ratelimit = store.family('gateway_ratelimit_decisions_total');
    this.quota = store.family('gateway_quota_exceeded_total');
    this.ejections = store.family('gateway_upstream_target_ejections_total');
    this.withConsumer = this.requests.def.labels.includes('consumer');
    this.labels = this.withConsumer ? ['', '', '', '', ''] : ['', '', '', ''];
  }

  exchange(f: ExchangeFigures): void {
    const l = this.labels;
    l[0] = f.route; l[1] = methodLabel(f.method); l[2] = String(f.status); l[3] = f.source;
    if (this.withConsumer) l[4] = f.consumer ?? '';
    this.requests.inc(l);
    const route = [f.route];
    this.duration.observe(route, f.duration);
    if (f.upstream !== null) this.upstream.observe([f.route, f.upstream], f.upstreamSeconds);
    this.own.observe(route, Math.max(0, f.duration - f.upstreamSeconds));
    if (f.bytesIn) this.bytesIn.inc(route, f.bytesIn);
    if (f.bytesOut) this.bytesOut.inc(route, f.bytesOut);
    if (f.retries) this.retries.inc(route, f.retries);
  }

  rateLimitDecision(route: string, allowed: boolean): void { this.ratelimit.inc([route, allowed ? 'allowed' : 'limited']); }
  quotaExceeded(plan: string): void { this.quota.inc([plan]); }
  ejected(upstream: string, target: string): void { this.ejections.inc([upstream, target]); }
}

/** Reports this thread's event-loop delay (p99 of the last interval) into the store. */
export function watchEventLoop(store: MetricsStore, thread: string, everyMs = 5000): () => void {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const gauge = store.family('gateway_event_loop_lag_seconds');
  const timer = setInterval(() => {
    gauge.set([thread], h.count ? h.percentile(99) / 1e9 : 0);
    h.reset();
  }, everyMs);
  timer.unref();
  return () => { clearInterval(timer); h.disable(); };
}
