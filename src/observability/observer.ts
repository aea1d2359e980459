// One thread's observability: what happens when a request begins (its trace) and when it
// is over (metrics, the access-log line, the end of its span). Made once per thread at
// start (observability is fixed at start) and shared by every route table it serves.
import { SpanKind } from '@opentelemetry/api';
import type { GatewayConfig } from '../config/types.js';
import type { RequestHead, ResponseSink } from '../server/types.js';
import type { RequestCtx } from '../pipeline/request-ctx.js';
import { MetricsStore, type FamilyDef } from './metrics/store.js';
import { RequestMetrics, watchEventLoop } from './metrics/request-metrics.js';
import { familyDefs } from './metrics/families.js';
import { AccessLog, isoTime, type AccessLogFields } from './access-log/access-log.js';
import { responseFlags } from './access-log/response-flags.js';
import { Tracing, type RequestTrace } from './tracing/tracer.js';
import { CREDENTIAL_NAME, REDACTED, redactQuery } from '../proxy/credentials.js';
import { findHeader } from '../proxy/request-headers.js';
import { useMetrics as useTranscodeMetrics } from '../transcode/transcode-call.js';

/** The shared metrics buffer and its layout, handed from the main thread to every thread. */
export interface MetricsShare { buffer: SharedArrayBuffer; defs: FamilyDef[] }

/** What the main thread makes once: the metrics store (or null when metrics are off). */
export function allocateMetrics(config: GatewayConfig): MetricsStore | null {
  return config.observability.metrics.enabled ? MetricsStore.allocate(familyDefs(config)) : null;
}

export const shareOf = (store: MetricsStore): MetricsShare => ({ buffer: store.buffer, defs: [...store.defs] });
export const storeOf = (share: MetricsShare): MetricsStore => new MetricsStore(share.buffer, share.defs);

const NO_NAMES: ReadonlySet<string> = new Set();

export class Observer {
  static readonly none = new Observer(null, null, null);
  private stopLoopWatch: (() => void) | null = null;

  constructor(readonly metrics: RequestMetrics | null, readonly accessLog: AccessLog | null, readonly tracing: Tracing | null) {}

  /** This thread's observer: `store` is the process's shared metrics (null: off); `thread` names it in per-thread metrics. */
  static create(config: GatewayConfig, store: MetricsStore | null, thread: string): Observer {
    const o = config.observability;
    const dropped = store?.family('gateway_access_log_dropped_total');
    const accessLog = o.accessLog.enabled ? new AccessLog(o.accessLog, dropped && (() => dropped.inc([thread]))) : null;
    const obs = new Observer(store ? new RequestMetrics(store) : null, accessLog, o.tracing ? new Tracing(o.tracing) : null);
    if (store) {
      obs.stopLoopWatch = watchEventLoop(store, thread);
      useTranscodeMetrics(store); // inline transcoding calls count here
    }
    return obs;
  }

  /** The request has its context: its trace begins (the client's traceparent continued, or a new one). */
  begin(ctx: RequestCtx): void {
    const tracing = this.tracing;
    if (!tracing) return;
    const { head } = ctx;
    const trace = ctx.trace = tracing.begin(ctx.header('traceparent'), ctx.header('tracestate'), ctx.timings.start, head.method);
    // Attributes only for a sampled request: most are not, and pay for an id alone.
    trace.span?.setAttributes({
      'http.request.method': head.method,
      'url.path': ctx.path,
      'url.scheme': head.scheme,
      'server.address': ctx.scanned.host ?? '',
      'client.address': ctx.clientIp,
      'user_agent.original': ctx.header('user-agent') ?? '',
      'gateway.request_id': ctx.requestId,
    });
    if (tracing.responseHeader) ctx.addHeaders([tracing.responseHeader, trace.traceId]);
  }

  /** The exchange is over (its response ended, or the client left). */
  done(ctx: RequestCtx): void {
    const { sink, timings } = ctx;
    const status = sink.status || 499;
    const route = ctx.route?.name ?? '';
    const up = ctx.upstream;
    const upstreamSeconds = up && up.headersAt ? (up.headersAt - up.sentAt) / 1000 : 0;
    const duration = (timings.end - timings.start) / 1000;
    this.metrics?.exchange({
      route, method: ctx.method, status, source: ctx.source, consumer: ctx.identity?.consumer.id ?? null, duration,
      bytesIn: sink.bytesIn, bytesOut: sink.bytesOut, upstream: up && up.headersAt ? up.name : null, upstreamSeconds, retries: up ? up.retries : 0,
    });
    const trace = ctx.trace;
    if (trace?.sampled) endTrace(trace, ctx, status, route);
    const al = this.accessLog;
    if (al && (ctx.route?.accessLog ?? true) && al.wants(status)) {
      al.write(this.fields(ctx, status, route, duration, upstreamSeconds, al));
    }
  }

  private fields(ctx: RequestCtx, status: number, route: string, duration: number, upstreamSeconds: number, al: AccessLog): AccessLogFields {
    const { head } = ctx;
    const up = ctx.upstream;
    const f = lineOf(head, ctx.sink, ctx.timings.start, duration, status);
    f.path = ctx.path;
    if (head.query) f.query = redactQuery(head.query, ctx.table.credentialParams);
    f.response_flags = responseFlags(ctx.errorCode, ctx.sink.aborted, (up?.retries ?? 0) > 0);
    f.route = route;
    if (up) {
      f.upstream = up.name;
      f.upstream_target = up.target;
      if (up.headersAt) f.upstream_duration_ms = round(upstreamSeconds * 1000);
      f.retries = up.retries;
    }
    f.request_id = ctx.requestId;
    if (ctx.trace) f.trace_id = ctx.trace.traceId;
    if (ctx.identity) f.consumer = ctx.identity.consumer.id;
    f.client_ip = ctx.clientIp;
    if (al.headers.length) f.request_headers = loggedHeaders(head.rawHeaders, al.headers, ctx.table.credentialHeaders);
    return f;
  }

  /** A request refused before it had a context (framing, a bad target): counted and logged with what is known. */
  refused(head: RequestHead, sink: ResponseSink, start: number, requestId: string): void {
    const duration = (performance.now() - start) / 1000;
    const status = sink.status || 499;
    this.metrics?.exchange({ route: '', method: head.method, status, source: 'gateway', consumer: null, duration, bytesIn: sink.bytesIn, bytesOut: sink.bytesOut, upstream: null, upstreamSeconds: 0, retries: 0 });
    const al = this.accessLog;
    if (!al || !al.wants(status)) return;
    const f = lineOf(head, sink, start, duration, status);
    f.path = head.path.slice(0, 2048);
    f.query = redactQuery(head.query.slice(0, 2048), NO_NAMES);
    f.response_flags = status === 499 ? 'DC' : 'DPE';
    f.request_id = requestId;
    f.client_ip = head.remoteAddress;
    al.write(f);
  }

  /** SIGUSR1: the access log's file again (after logrotate). */
  reopen(): void { this.accessLog?.reopen(); }

  async close(): Promise<void> {
    this.stopLoopWatch?.();
    this.accessLog?.close();
    await this.tracing?.shutdown();
  }
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

/** A line with what the head and the sink say (`start`: performance.now() of the head); the rest empty. One literal: every line has one shape. */
function lineOf(head: RequestHead, sink: ResponseSink, start: number, duration: number, status: number): AccessLogFields {
  return {
    start_time: isoTime(performance.timeOrigin + start),
    duration_ms: round(duration * 1000),
    method: head.method,
    path: '',
    query: '',
    protocol: head.http10 ? 'HTTP/1.0' : 'HTTP/1.1',
    status,
    response_flags: '-',
    bytes_received: sink.bytesIn,
    bytes_sent: sink.bytesOut,
    route: '',
    upstream: '',
    upstream_target: '',
    upstream_duration_ms: null,
    retries: 0,
    request_id: '',
    trace_id: '',
    consumer: '',
    client_ip: '',
    user_agent: findHeader(head.rawHeaders, 'user-agent') ?? '',
  };
}

function loggedHeaders(raw: string[], names: readonly string[], credentials: ReadonlySet<string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = findHeader(raw, n);
    if (v !== undefined) out[n] = CREDENTIAL_NAME.test(n) || credentials.has(n) ? REDACTED : v;
  }
  return out;
}

function endTrace(trace: RequestTrace, ctx: RequestCtx, status: number, route: string): void {
  const attrs: Record<string, string | number> = { 'gateway.route': route };
  if (ctx.route) attrs['http.route'] = ctx.route.pattern ?? route;
  if (ctx.identity) attrs['gateway.consumer'] = ctx.identity.consumer.id;
  const up = ctx.upstream;
  if (up?.transcode) {
    const t = up.transcode;
    const [service, method] = t.grpcPath.slice(1).split('/');
    const rpc = { 'rpc.system': 'grpc', 'rpc.service': service ?? '', 'rpc.method': method ?? '' };
    if (t.startedAt) trace.step('transcoding queue', SpanKind.INTERNAL, up.sentAt, t.startedAt, rpc);
    trace.step(`${service}/${method}`, SpanKind.CLIENT, t.startedAt || up.sentAt, up.headersAt || ctx.timings.end, { ...rpc, ...(t.grpcCode !== null ? { 'rpc.grpc.status_code': t.grpcCode } : {}) }, t.grpcCode ? `grpc_${t.grpcCode}` : undefined);
  }
  trace.end(ctx.timings.end, status, attrs, ctx.errorCode);
}

