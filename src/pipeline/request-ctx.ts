// One request on its way through the gateway. Everything a policy or a target needs travels
// here and nowhere else: the head, the normalised path, the route and its parameters, the
// client address, the identity, the headers every answer carries, the body (live, held or
// read whole), the upstream request's headers and query, and timings. Every continuation
// (after a token check, a Redis decision, a body read, a pool call) runs through `guard`,
// so a bug answers this one request 500 and is logged; nothing escapes into the front
// end's native callbacks.
import { GatewayError, type ErrorCode } from '../errors.js';
import type { RequestTrace } from '../observability/tracing/tracer.js';
import type { BodySource, RequestHead, ResponseSink } from '../server/types.js';
import type { ScannedRequest } from '../proxy/request-headers.js';
import { findHeader } from '../proxy/request-headers.js';
import type { Identity } from '../policies/auth/identity.js';
import type { MatchInput } from '../router/router.js';
import type { CompiledRoute, RouteTable } from '../gateway/route-table.js';
import { HeldBody } from '../proxy/held-body.js';
import { log } from '../observability/logger.js';
import { sendError } from './error-answer.js';

const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;

export interface Timings {
  /** performance.now() when the head arrived */
  readonly start: number;
  /** when the exchange was over (0 until then) */
  end: number;
}

/** The upstream side of an exchange, for metrics, the access log and spans (performance.now() times). */
export interface UpstreamExchange {
  /** the upstream's name */
  name: string;
  /** host:port of the target of the last attempt */
  target: string;
  /** when the last attempt was sent */
  sentAt: number;
  /** when its response headers arrived (0: they did not) */
  headersAt: number;
  /** attempts after the first */
  retries: number;
  /** transcoded calls: the gRPC method, when a worker started it (0: inline or unknown), its status code */
  transcode?: { grpcPath: string; startedAt: number; grpcCode: number | null };
}

export class RequestCtx {
  route: CompiledRoute | null = null;
  params: Record<string, string> = NO_PARAMS;
  /** what a trailing `*` of the route's pattern matched */
  wildcard: string | null = null;
  identity: Identity | null = null;
  /** CORS, rate-limit and quota headers: added to every answer, errors included */
  responseHeaders: string[] | null = null;
  /** The request body not yet consumed: as the front end delivers it, or held while a hook waited. null: none, or read. */
  body: BodySource | null;
  /** The body once read whole (validation, retries, transcoding). */
  wholeBody: Buffer | null = null;
  /** Headers of the upstream request (the client's, minus hop-by-hop and gateway-owned ones); policies edit them. */
  readonly upstreamHeaders: string[];
  /** The query string sent upstream (policies may remove credentials from it). */
  upstreamQuery: string;
  readonly timings: Timings = { start: performance.now(), end: 0 };
  /** who made the answer: 'upstream' once an upstream's response is relayed */
  source: 'gateway' | 'upstream' = 'gateway';
  /** the gateway error that answered, when one did */
  errorCode: ErrorCode | null = null;
  /** the upstream exchange, when the target called one */
  upstream: UpstreamExchange | null = null;
  /** the request's trace (observability.tracing) */
  trace: RequestTrace | null = null;
  private queryCache: URLSearchParams | null = null;
  private done = false;

  constructor(
    readonly table: RouteTable,
    readonly head: RequestHead,
    readonly sink: ResponseSink,
    readonly scanned: ScannedRequest,
    /** the normalised path: routed on, and forwarded as is */
    readonly path: string,
    /** what the normaliser saw in the path (normalise-path.ts flags) */
    readonly pathFlags: number,
    /** the peer, or the address a trusted proxy reported */
    readonly clientIp: string,
    /** the request has a body: an error answer closes the connection (the body may be unread) */
    readonly hasBody: boolean,
    body: BodySource | null,
    private readonly onFinish: (ctx: RequestCtx) => void,
  ) {
    this.body = hasBody ? body : null;
    this.upstreamHeaders = scanned.forward;
    this.upstreamQuery = head.query;
  }

  get requestId(): string { return this.scanned.requestId; }
  get method(): string { return this.head.method; }
  /** nothing more may be sent: the client left or an answer went out */
  get over(): boolean { return this.sink.aborted || this.sink.responded; }

  header(name: string): string | undefined { return findHeader(this.head.rawHeaders, name); }

  /** The client's query, parsed on first use. */
  query(): URLSearchParams { return (this.queryCache ??= new URLSearchParams(this.head.query)); }

  /** What the router reads, for this request with another method (CORS preflights). */
  matchInput(method: string): MatchInput {
    return {
      method,
      host: this.scanned.host,
      path: this.path,
      header: (name) => findHeader(this.head.rawHeaders, name),
      queryParam: (name) => this.query().get(name) ?? undefined,
    };
  }

  addHeaders(h: readonly string[]): void {
    if (h.length) this.responseHeaders = this.responseHeaders ? [...this.responseHeaders, ...h] : [...h];
  }

  /** Answers `err` through the one error mapper, with the context's response headers (and `more`); `close`: the connection after it. */
  fail(err: GatewayError, more?: readonly string[] | null, close = this.hasBody): void {
    if (!this.over) { this.errorCode = err.code; this.source = 'gateway'; }
    const extra = this.responseHeaders ? (more ? [...more, ...this.responseHeaders] : this.responseHeaders) : more;
    sendError(this.sink, err, this.requestId, extra, close);
  }

  /** A hook is about to wait: keep what arrives of the body meanwhile (bounded; see HeldBody). */
  holdBody(): void {
    if (this.body && !(this.body instanceof HeldBody)) this.body = new HeldBody(this.body);
  }

  /** Takes the live body (a target streams it): null when there is none or it was read whole. */
  takeBody(): BodySource | null {
    const b = this.body;
    this.body = null;
    return b;
  }

  /**
   * Reads the body whole (at most limits.maxBufferedBodyBytes, else 413), then `then` runs
   * guarded. Without a body, or once read, `then` gets what there is at once.
   */
  readWhole(then: (whole: Buffer) => void): void {
    this.collect((whole) => { if (whole) then(whole); });
  }

  /** The same as a promise: null when it answered (413) or the client left. */
  readWholeAsync(): Promise<Buffer | null> {
    return new Promise((resolve) => this.collect(resolve));
  }

  private collect(done: (whole: Buffer | null) => void): void {
    if (this.wholeBody) { this.run(() => done(this.wholeBody)); return; }
    const body = this.takeBody();
    if (!body) { this.run(() => done((this.wholeBody = Buffer.alloc(0)))); return; }
    const max = this.table.config.limits.maxBufferedBodyBytes;
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    this.sink.onAborted(this.guard(() => { if (!settled) { settled = true; done(null); } }));
    body.onData(this.guard((chunk: Uint8Array, last: boolean) => {
      if (settled) return;
      size += chunk.byteLength;
      if (size > max) {
        settled = true;
        this.fail(new GatewayError('payload_too_large', `request body exceeds ${max} bytes`));
        done(null);
        return;
      }
      if (chunk.byteLength) chunks.push(Buffer.from(chunk)); // the front end reuses its buffer
      if (!last) return;
      settled = true;
      this.wholeBody = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      done(this.wholeBody);
    }));
  }

  /** Runs `fn` now; a throw becomes this request's 500 (when nothing answered yet) and a log line. */
  run(fn: () => void): void {
    try { fn(); } catch (e) { this.crashed(e); }
  }

  /** `fn` wrapped for later (callbacks, promise handlers). */
  guard<A extends unknown[]>(fn: (...a: A) => void): (...a: A) => void {
    return (...a: A) => { try { fn(...a); } catch (e) { this.crashed(e); } };
  }

  crashed(e: unknown): void {
    log.error({ err: e instanceof Error ? { message: e.message, stack: e.stack } : String(e), requestId: this.requestId, path: this.head.path }, 'request handling failed');
    if (!this.sink.responded && !this.sink.aborted) {
      this.errorCode = 'internal_error';
      this.source = 'gateway';
      try { sendError(this.sink, new GatewayError('internal_error', 'internal error'), this.requestId, null, true); } catch { this.sink.destroy(); }
    }
  }

  /** Runs once, when the exchange is over: metrics, access log and span, the route's onLog hooks, then in-flight accounting. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    this.timings.end = performance.now();
    try { this.table.observer.done(this); } catch (e) { log.error({ err: (e as Error).message, requestId: this.requestId }, 'recording the request failed'); }
    const hooks = this.route?.onLog;
    if (hooks) {
      for (const p of hooks) {
        try { p.onLog!(this); } catch (e) { log.error({ err: (e as Error).message, policy: p.id, requestId: this.requestId }, 'onLog hook failed'); }
      }
    }
    this.onFinish(this);
  }
}
