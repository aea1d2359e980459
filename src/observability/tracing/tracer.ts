// Tracing: W3C trace context on every request, OpenTelemetry spans for the sampled ones,
// exported over OTLP/HTTP (JSON) by the SDK's batch processor (off the request path).
// Sampling is ParentBased(TraceIdRatioBased(sampleRatio)), decided here before any SDK
// object exists, so an unsampled request costs a header parse and an id, not a span.
// Each front-end thread has its own provider and exporter.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor, AlwaysOnSampler, RandomIdGenerator } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ObservabilityConfig } from '../../config/types.js';
import { lastTraceIdXor, newSpanId, newTraceId, parseTraceparent, traceparent, type ParentContext } from './trace-context.js';

type TracingConfig = NonNullable<ObservabilityConfig['tracing']>;

/** OpenTelemetry's TraceIdRatioBased rule: the trace id's 32-bit words xor-ed (`idXor`), against ratio × 2^32. */
export function ratioSampled(idXor: number, ratio: number): boolean {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  return idXor <= Math.floor(ratio * 0xffffffff);
}

const toEpoch = (perfMs: number) => performance.timeOrigin + perfMs;

/** The ids the SDK is to use for the next root span (so its trace id is the one sampling judged). */
class ChosenIds extends RandomIdGenerator {
  nextTraceId: string | null = null;
  override generateTraceId = (): string => { const id = this.nextTraceId; this.nextTraceId = null; return id ?? newTraceId(); };
}

export class Tracing {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;
  private readonly ids = new ChosenIds();
  readonly responseHeader: string | null;

  constructor(private readonly cfg: TracingConfig) {
    const exporter = new OTLPTraceExporter({ url: cfg.otlp.endpoint, headers: cfg.otlp.headers, timeoutMillis: cfg.otlp.timeoutMs });
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': cfg.serviceName }),
      sampler: new AlwaysOnSampler(), // the decision is made in begin()
      idGenerator: this.ids,
      spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000, maxQueueSize: 4096, maxExportBatchSize: 512 })],
    });
    this.tracer = this.provider.getTracer('edge-gateway');
    this.responseHeader = cfg.responseHeader?.toLowerCase() ?? null;
  }

  /** The trace of a request: continued from a valid traceparent, else a new one. */
  begin(traceparentHeader: string | undefined, tracestate: string | undefined, startPerf: number, name: string): RequestTrace {
    const parent = parseTraceparent(traceparentHeader, tracestate);
    const traceId = parent?.traceId ?? newTraceId();
    const sampled = parent ? parent.sampled : ratioSampled(lastTraceIdXor, this.cfg.sampleRatio);
    const clientSent = traceparentHeader !== undefined || tracestate !== undefined;
    if (!sampled) return new RequestTrace(null, traceId, parent, null, clientSent);
    let context: Context = ROOT_CONTEXT;
    if (parent) context = trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId: parent.spanId, traceFlags: 1, isRemote: true });
    else this.ids.nextTraceId = traceId;
    const span = this.tracer.startSpan(name, { kind: SpanKind.SERVER, startTime: toEpoch(startPerf) }, context);
    return new RequestTrace(this, traceId, parent, span, clientSent);
  }

  /** A child span of `parent` (sampled requests only). */
  child(parent: Span, name: string, kind: SpanKind, startPerf: number, attributes: Attributes): Span {
    return this.tracer.startSpan(name, { kind, startTime: toEpoch(startPerf), attributes }, trace.setSpan(ROOT_CONTEXT, parent));
  }

  async shutdown(): Promise<void> {
    try { await this.provider.shutdown(); } catch { /* an unreachable receiver: nothing more to do */ }
  }
}

/** One request's trace: what goes upstream, and (sampled) its spans. */
export class RequestTrace {
  /** the span id this hop presents upstream when the request is not sampled */
  private readonly hopId: string;
  private attempt: Span | null = null;
  private attempts = 0;
  /** where the upstream request's traceparent value sits in its header list (set by the core) */
  headerAt = -1;

  /** `clientSent`: the request carried a traceparent or tracestate (to be replaced upstream) */
  constructor(private readonly tracing: Tracing | null, readonly traceId: string, readonly parent: ParentContext | null, readonly span: Span | null, readonly clientSent: boolean) {
    this.hopId = span ? span.spanContext().spanId : newSpanId();
  }

  get sampled(): boolean { return this.span !== null; }

  /** The traceparent for the upstream request (a new span per attempt when sampled). */
  upstreamHeader(): string {
    return traceparent(this.traceId, this.attempt ? this.attempt.spanContext().spanId : this.hopId, this.sampled);
  }

  /** An upstream attempt starts: its CLIENT span (sampled); returns the traceparent to send. */
  startAttempt(method: string, host: string, port: number, upstream: string): string {
    if (this.span) {
      this.attempt?.end();
      const attrs: Attributes = { 'http.request.method': method, 'server.address': host, 'server.port': port, 'gateway.upstream': upstream };
      if (this.attempts > 0) attrs['http.request.resend_count'] = this.attempts;
      this.attempt = this.tracing!.child(this.span, method, SpanKind.CLIENT, performance.now(), attrs);
    }
    this.attempts++;
    return this.upstreamHeader();
  }

  /** The running attempt is over: with the upstream's status, or the error that ended it. */
  endAttempt(status: number | null, error: string | null): void {
    const a = this.attempt;
    if (!a) return;
    this.attempt = null;
    if (status !== null) a.setAttribute('http.response.status_code', status);
    if (error !== null || (status !== null && status >= 500)) {
      a.setAttribute('error.type', error ?? String(status));
      a.setStatus({ code: SpanStatusCode.ERROR });
    }
    a.end();
  }

  /** A finished step of the request (a policy, the transcoding queue or call), as a child span. */
  step(name: string, kind: SpanKind, startPerf: number, endPerf: number, attributes: Attributes, error?: string): void {
    if (!this.span) return;
    const s = this.tracing!.child(this.span, name, kind, startPerf, attributes);
    if (error) { s.setAttribute('error.type', error); s.setStatus({ code: SpanStatusCode.ERROR }); }
    s.end(toEpoch(endPerf));
  }

  /** The request is over. */
  end(endPerf: number, status: number, attributes: Attributes, error: string | null): void {
    const s = this.span;
    if (!s) return;
    this.endAttempt(null, this.attempt ? 'aborted' : null);
    s.setAttribute('http.response.status_code', status);
    s.setAttributes(attributes);
    if (error !== null || status >= 500) {
      s.setAttribute('error.type', error ?? String(status));
      s.setStatus({ code: SpanStatusCode.ERROR });
    }
    s.end(toEpoch(endPerf));
  }
}
