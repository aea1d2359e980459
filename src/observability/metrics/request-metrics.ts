// What one thread counts per request, in the shared store (store.ts): called once per
// exchange when it is over. Label values are bounded by the config (route and upstream
// names, plans) or by the gateway (method: the standard ones or _OTHER; a three-digit
// code); the store caps each metric's series anyway.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Family, MetricsStore } from './store.js';

const METHOD_LIST = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];
const METHODS = new Set(METHOD_LIST);
/** OpenTelemetry's name for a method outside the standard set (a client can send any token). */
export const methodLabel = (m: string): string => (METHODS.has(m) ? m : '_OTHER');
const methodIndex = (m: string): number => { const i = METHOD_LIST.indexOf(m); return i < 0 ? METHOD_LIST.length : i; };

/** A route's series offsets, found on first use and kept (a series never moves, and a family that is full stays full: overflow is for good). -1: not yet. */
interface RouteSeries {
  label: readonly string[];
  duration: number;
  own: number;
  bytesIn: number;
  bytesOut: number;
  retries: number;
  /** (status × 16 + method) × 2 + source → gateway_http_requests_total offset */
  requests: Map<number, number>;
  /** upstream name → gateway_upstream_duration_seconds offset */
  upstream: Map<string, number>;
}
/** route names kept (they come from the config; reloads that rename routes could add more) */
const MAX_ROUTES_CACHED = 20_000;

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

export interface WebSocketCounters {
  opened(): void;
  message(direction: 'in' | 'out', bytes: number): void;
}

/** A message counter for WebSockets when metrics are off. */
export const NO_COUNT = (): void => {};

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
  private readonly routes = new Map<string, RouteSeries>();

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
    const r = this.routeSeries(f.route);
    if (this.withConsumer) {
      const l = this.labels;
      l[0] = f.route; l[1] = methodLabel(f.method); l[2] = String(f.status); l[3] = f.source; l[4] = f.consumer ?? '';
      this.requests.inc(l); // one series per consumer: left to the store's own (bounded) cache
    } else {
      const key = ((f.status * 16 + methodIndex(f.method)) << 1) | (f.source === 'upstream' ? 1 : 0);
      let at = r.requests.get(key);
      if (at === undefined) {
        at = this.requests.series([f.route, methodLabel(f.method), String(f.status), f.source]);
        if (r.requests.size < 256) r.requests.set(key, at); // bounded: an upstream chooses the status
      }
      this.requests.incAt(at);
    }
    if (r.duration < 0) r.duration = this.duration.series(r.label);
    this.duration.observeAt(r.duration, f.duration);
    if (f.upstream !== null) {
      let at = r.upstream.get(f.upstream);
      if (at === undefined) r.upstream.set(f.upstream, at = this.upstream.series([f.route, f.upstream]));
      this.upstream.observeAt(at, f.upstreamSeconds);
    }
    if (r.own < 0) r.own = this.own.series(r.label);
    this.own.observeAt(r.own, Math.max(0, f.duration - f.upstreamSeconds));
    // Series appear on first use: bytes and retries once they are non-zero.
    if (f.bytesIn) { if (r.bytesIn < 0) r.bytesIn = this.bytesIn.series(r.label); this.bytesIn.incAt(r.bytesIn, f.bytesIn); }
    if (f.bytesOut) { if (r.bytesOut < 0) r.bytesOut = this.bytesOut.series(r.label); this.bytesOut.incAt(r.bytesOut, f.bytesOut); }
    if (f.retries) { if (r.retries < 0) r.retries = this.retries.series(r.label); this.retries.incAt(r.retries, f.retries); }
  }

  private routeSeries(route: string): RouteSeries {
    let r = this.routes.get(route);
    if (r) return r;
    if (this.routes.size >= MAX_ROUTES_CACHED) this.routes.clear();
    r = { label: [route], duration: -1, own: -1, bytesIn: -1, bytesOut: -1, retries: -1, requests: new Map(), upstream: new Map() };
    this.routes.set(route, r);
    return r;
  }

  /** A WebSocket route's counters (series offsets looked up once per route table). */
  websocket(route: string): WebSocketCounters {
    const conns = this.store.family('gateway_websocket_connections_total');
    const msgs = this.store.family('gateway_websocket_messages_total');
    const bytes = this.store.family('gateway_websocket_message_bytes_total');
    const at = { in: [msgs.series([route, 'in']), bytes.series([route, 'in'])], out: [msgs.series([route, 'out']), bytes.series([route, 'out'])] };
    const opened = conns.series([route]);
    return {
      opened: () => conns.incAt(opened),
      message: (direction, n) => { const [m, b] = at[direction]; msgs.incAt(m!); bytes.incAt(b!, n); },
    };
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
