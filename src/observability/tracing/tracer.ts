// Tracing: W3C trace context on every request, spans for the sampled ones, exported over
// OTLP/HTTP (JSON) by the OpenTelemetry SDK's batch processor and exporter (off the request
// path). Sampling is ParentBased(TraceIdRatioBased(sampleRatio)), decided here before any
// span exists, so an unsampled request costs a header parse and an id, not a span.
// The spans themselves are ours (RecordedSpan: the SDK's ReadableSpan, what its processor and
// exporter read): the SDK's Tracer.startSpan cost ~45 µs a span in the gateway's profile —
// run for 1% of requests, its code stays cold — against a plain object here.
// Each front-end thread has its own processor and exporter.
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type AttributeValue, type HrTime, type Link, type SpanContext, type SpanStatus } from '@opentelemetry/api';
import { hrTimeDuration, millisToHrTime, type InstrumentationScope } from '@opentelemetry/core';
import { BatchSpanProcessor, type ReadableSpan, type TimedEvent } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
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
const SCOPE: InstrumentationScope = { name: 'edge-gateway' };
const NO_LINKS: Link[] = [];
const NO_EVENTS: TimedEvent[] = [];

/** A sampled span: recorded as plain data, handed to the batch processor when it ends. */
export class RecordedSpan implements ReadableSpan {
  private readonly context: SpanContext;
  readonly startTime: HrTime;
  endTime: HrTime = [0, 0];
  ended = false;
  status: SpanStatus = { code: SpanStatusCode.UNSET };
  readonly links = NO_LINKS;
  readonly events = NO_EVENTS;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly instrumentationScope = SCOPE;

  constructor(
    private readonly tracing: Tracing,
    readonly name: string,
    readonly kind: SpanKind,
    traceId: string,
    readonly parentSpanContext: SpanContext | undefined,
    startEpochMs: number,
    readonly attributes: Attributes,
  ) {
    this.context = { traceId, spanId: newSpanId(), traceFlags: TraceFlags.SAMPLED };
    this.startTime = millisToHrTime(startEpochMs);
  }

  readonly spanContext = (): SpanContext => this.context;
  get duration(): HrTime { return hrTimeDuration(this.startTime, this.endTime); }
  get resource(): Resource { return this.tracing.resource; }

  setAttribute(key: string, value: AttributeValue | undefined): void {
    if (!this.ended && value !== undefined) this.attributes[key] = value;
  }

  setAttributes(attributes: Attributes): void {
    for (const key in attributes) this.setAttribute(key, attributes[key]);
  }

  setStatus(status: SpanStatus): void { if (!this.ended) this.status = status; }

  end(endEpochMs = Date.now()): void {
    if (this.ended) return;
    this.ended = true;
    this.endTime = millisToHrTime(endEpochMs);
    this.tracing.processor.onEnd(this);
  }
}

export class Tracing {
  readonly processor: BatchSpanProcessor;
  readonly resource: Resource;
  readonly responseHeader: string | null;

  constructor(private readonly cfg: TracingConfig) {
    const exporter = new OTLPTraceExporter({ url: cfg.otlp.endpoint, headers: cfg.otlp.headers, timeoutMillis: cfg.otlp.timeoutMs });
    this.processor = new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000, maxQueueSize: 4096, maxExportBatchSize: 512 });
    this.resource = resourceFromAttributes({ 'service.name': cfg.serviceName });
    this.responseHeader = cfg.responseHeader?.toLowerCase() ?? null;
  }

  /** The trace of a request: continued from a valid traceparent, else a new one. */
  begin(traceparentHeader: string | undefined, tracestate: string | undefined, startPerf: number, name: string): RequestTrace {
    const parent = parseTraceparent(traceparentHeader, tracestate);
    const traceId = parent?.traceId ?? newTraceId();
    const sampled = parent ? parent.sampled : ratioSampled(lastTraceIdXor, this.cfg.sampleRatio);
    const clientSent = traceparentHeader !== undefined || tracestate !== undefined;
    if (!sampled) return new RequestTrace(null, traceId, parent, null, clientSent);
    const remote = parent ? { traceId, spanId: parent.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true } : undefined;
    const span = new RecordedSpan(this, name, SpanKind.SERVER, traceId, remote, toEpoch(startPerf), {});
    return new RequestTrace(this, traceId, parent, span, clientSent);
  }

  /** A child span of `parent` (sampled requests only). */
  child(parent: RecordedSpan, name: string, kind: SpanKind, startPerf: number, attributes: Attributes): RecordedSpan {
    return new RecordedSpan(this, name, kind, parent.spanContext().traceId, parent.spanContext(), toEpoch(startPerf), { ...attributes });
  }

  async shutdown(): Promise<void> {
    try { await this.processor.shutdown(); } catch { /* an unreachable receiver: nothing more to do */ }
  }
}

/** One request's trace: what goes upstream, and (sampled) its spans. */
export class RequestTrace {
  /** the span id this hop presents upstream when the request is not sampled */
  private readonly hopId: string;
  private attempt: RecordedSpan | null = null;
  private attempts = 0;
  /** where the upstream request's traceparent value sits in its header list (set by the core) */
  headerAt = -1;

  /** `clientSent`: the request carried a traceparent or tracestate (to be replaced upstream) */
  constructor(private readonly tracing: Tracing | null, readonly traceId: string, readonly parent: ParentContext | null, readonly span: RecordedSpan | null, readonly clientSent: boolean) {
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
