// The transcoding target of a route: the front thread matches the HTTP binding (404/405
// like any route), reads the body, and hands the whole call to the pool; the answer comes
// back as bytes (unary) or as a stream of events on a MessagePort (server streaming).
import { GatewayError } from '../errors.js';
import type { RequestCtx } from '../pipeline/request-ctx.js';
import type { Target } from '../pipeline/target.js';
import type { Policy, UpstreamHead } from '../pipeline/policy.js';
import type { TranscodeRoute } from './transcode-route.js';
import type { TranscodeResult, TranscodeTask } from './task.js';
import { StreamRelay } from './stream-relay.js';
import { UploadRelay } from './upload-relay.js';
import { QueueFullError, type Transcoder } from './transcoder.js';
import type { Cancellations } from './cancellation.js';
import { runCall } from './transcode-call.js';
import type { MessageOffload } from './message-offload.js';
import { log } from '../observability/logger.js';
import { closeReason } from './grpc-status.js';
import { grpcWebMode, onWire, requestMessage, trailersFrame, type GrpcWebMode } from './grpc-web.js';
import { GRPC_WEBSOCKETS, SocketBridge } from './socket-bridge.js';
import { refusedHandshake } from '../websocket/handshake-refusal.js';
import { SocketCap } from '../websocket/socket-cap.js';
import { NO_COUNT, type WebSocketCounters } from '../observability/metrics/request-metrics.js';

/** Header-frame lines a grpc-websockets client may send */
const MAX_HEADER_LINES = 100;
const HEADER_NAME = /^[a-z0-9_.-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/** The grpc-timeout query parameter of a bridged call in ms (null: absent or malformed); the other parameters are not mapped. */
function timeoutParam(query: string): number | null {
  for (const p of query.split('&')) if (p.startsWith('grpc-timeout=')) return grpcTimeoutMs(p.slice(13));
  return null;
}

/**
 * A grpc-websockets header frame ("name: value\r\n" lines): the metadata it may add — names
 * the route forwards, not already set from the upgrade request, never an identity header —
 * and its grpc-timeout. A string: why it is refused.
 */
function headerFrameMetadata(text: string, allowed: ReadonlySet<string>, fixed: ReadonlySet<string>): { metadata: Array<[string, string]>; timeoutMs: number | null } | string {
  const lines = text.split('\r\n');
  if (lines.length > MAX_HEADER_LINES + 1) return `a header frame has more than ${MAX_HEADER_LINES} lines`;
  const metadata: Array<[string, string]> = [];
  let timeoutMs: number | null = null;
  for (const line of lines) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim().toLowerCase() : '';
    const value = line.slice(colon + 1).trim();
    if (!HEADER_NAME.test(name) || !HEADER_VALUE.test(value)) return 'a header frame line is not "name: value" in printable ASCII';
    if (name === 'grpc-timeout') timeoutMs = grpcTimeoutMs(value);
    else if (allowed.has(name) && !fixed.has(name)) metadata.push([name, value]);
  }
  return { metadata, timeoutMs };
}

/** A grpc-timeout header ("<digits><H|M|S|m|u|n>") in ms, or null when absent or malformed. */
function grpcTimeoutMs(v: string | undefined): number | null {
  const m = v ? /^(\d{1,8})([HMSmun])$/.exec(v) : null;
  if (!m) return null;
  const unit: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
  return Number(m[1]) * unit[m[2]!]!;
}

/** What a table's transcoding targets share: the pool, the configuration it was sent, cancel flags, the inline threshold. */
export interface TranscodeEnv {
  readonly transcoder: Transcoder;
  /** the pool generation of this table's configuration */
  readonly gen: number;
  readonly cancellations: Cancellations;
  /** unary calls with a smaller body run in this thread (transcoding.inlineBelowBytes; 0: never) */
  readonly inlineBelow: number;
  /** inline unary calls hand an answer message of at least inlineBelow bytes to the pool; null when inlineBelow is 0 */
  readonly answerOffload: MessageOffload | null;
  /** WebSocket bridge calls run in this thread, their messages of at least `above` bytes mapped in the pool (transcoding.inlineWebSocketBelowBytes); null: in the pool */
  readonly socketOffload: MessageOffload | null;
  /** unary JSON answers this large are compressed in the worker (transcoding.compressAboveBytes; 0: never) */
  readonly compressAbove: number;
  /** aggregate answers (and picks) smaller than this are composed in this thread (transcoding.inlineComposeBelowBytes; 0: never) */
  readonly composeBelow: number;
}

const ESCAPE = /%[0-9a-f]{2}/gi;

/**
 * The path as the client sent it, when normalisation changed nothing but the case of its
 * escapes: field values then keep `%2f` byte for byte (HttpRule: multi-segment variables
 * leave %2F/%2f encoded). Otherwise the normalised path (it was routed on).
 */
function asSent(raw: string, normalised: string): string {
  if (raw === normalised || raw.length !== normalised.length) return normalised;
  return raw.replace(ESCAPE, (e) => e.toUpperCase()) === normalised ? raw : normalised;
}

export class TranscodeTarget implements Target {
  readonly kind = 'transcode';

  constructor(
    readonly route: TranscodeRoute,
    private readonly env: TranscodeEnv,
    /** the deadline of a call, counted from the request's arrival */
    private readonly totalMs: number,
    /** the route's policies with an onResponse hook (unary answers) */
    private readonly onResponse: readonly Policy[],
    /** transcode.websocket with metrics on: the route's WebSocket counters */
    private readonly socketCounters: WebSocketCounters | null = null,
  ) {
    this.sockets = route.socket ? new SocketCap(route.socket.maxConnections) : null;
  }

  /** bridged WebSockets of this route open on this thread (transcode.websocket) */
  private readonly sockets: SocketCap | null;

  /** The request headers the route forwards as gRPC metadata. */
  private metadataOf(ctx: RequestCtx): Array<[string, string]> {
    const headers = ctx.upstreamHeaders;
    const metadata: Array<[string, string]> = [];
    for (let i = 0; i < headers.length; i += 2) if (this.route.metadataHeaders.has(headers[i]!)) metadata.push([headers[i]!, headers[i + 1]!]);
    return metadata;
  }

  call(ctx: RequestCtx): void {
    const t = this.route;
    const { head, path } = ctx;
    if (t.socket) {
      if (ctx.sink.upgrade) { this.callSocket(ctx); return; }
      if (refusedHandshake(ctx)) return; // it asked for a WebSocket, malformed
    }
    const web = t.grpcWebMethods ? grpcWebMode(ctx.header('content-type')) : null;
    if (web) { this.callGrpcWeb(ctx, web); return; }
    const m = t.match(head.method, asSent(head.path, path));
    if (m.kind === 'not-found') { ctx.fail(new GatewayError('route_not_found', `no gRPC method is bound to ${head.method} ${path}`)); return; }
    if (m.kind === 'method-not-allowed') { ctx.fail(new GatewayError('method_not_allowed', `method ${head.method} is not allowed on ${path}`), ['allow', m.allow.join(', ')]); return; }
    const uploads = m.binding.clientStreaming;
    if (uploads && !/^application\/(x-ndjson|jsonl)\s*(;|$)/i.test(ctx.header('content-type') ?? '')) {
      ctx.fail(new GatewayError('unsupported_media_type', 'a client-streaming method takes newline-delimited JSON (Content-Type: application/x-ndjson), one request message a line'));
      return;
    }
    const metadata = this.metadataOf(ctx);
    const deadline = Math.round(performance.timeOrigin + ctx.timings.start) + this.totalMs;
    const env = this.env;
    const call = (bytes: Buffer | null) => {
      const { sink, requestId } = ctx;
      let ab: ArrayBuffer | null = null;
      if (bytes) { ab = new ArrayBuffer(bytes.length); new Uint8Array(ab).set(bytes); } // own buffer: it is transferred
      const stream = m.binding.serverStreaming ? new StreamRelay(sink, requestId, ctx.responseHeaders) : null;
      if (stream) stream.sse = /text\/event-stream/i.test(ctx.header('accept') ?? '');
      // A stream is cancelled through its port, a unary call through a shared cancel flag
      // (cancellation.ts: a Piscina abort would end the worker and every call it runs).
      const cancellation = stream ? null : env.cancellations.next();
      // client streaming: the body goes to the worker as it arrives, never read whole here
      const upload = uploads ? new UploadRelay(ctx.takeBody(), ctx.table.config.limits.maxBodyBytes, () => {
        cancellation?.cancel();
        stream?.cancel();
        ctx.fail(new GatewayError('payload_too_large', `request body exceeds ${ctx.table.config.limits.maxBodyBytes} bytes`));
      }) : null;
      sink.onAborted(() => { stream?.cancel(); cancellation?.cancel(); upload?.close(); });
      const task: TranscodeTask = {
        gen: env.gen, upstream: t.upstream, binding: m.task, vars: m.vars, query: head.query, body: ab, metadata, deadline, emitDefaults: t.emitDefaults, useProtoNames: t.useProtoNames, enumsAsInts: t.enumsAsInts, ignoreUnknownQuery: t.ignoreUnknownQuery || undefined, contentType: ctx.header('content-type') ?? null,
        cancelSeq: cancellation?.seq, retry: t.retry,
        stream: stream ? { port: stream.workerPort, sse: stream.sse } : undefined,
        upload: upload ? { port: upload.workerPort, maxLineBytes: ctx.table.config.limits.maxBufferedBodyBytes } : undefined,
      };
      // Small unary calls: in this thread, without the hop (measured, docs/transcoding.md).
      // A call whose answer may be compressed runs in the pool: compression costs CPU per byte.
      const inline = !stream && !upload && (ab?.byteLength ?? 0) < env.inlineBelow && !(env.compressAbove > 0 && ctx.header('accept-encoding'));
      if (!inline && !stream && env.compressAbove > 0) task.compress = { minBytes: env.compressAbove, accept: ctx.header('accept-encoding') ?? '' };
      const up = (ctx.upstream = { name: t.upstream, target: '', sentAt: performance.now(), headersAt: 0, retries: 0, transcode: { grpcPath: m.task.grpcPath, startedAt: 0, grpcCode: null as number | null } });
      (inline ? runCall(task, env.answerOffload) : env.transcoder.run(task)).then(
        ctx.guard((r: TranscodeResult) => {
          up.headersAt = performance.now();
          if (r.startedAt) up.transcode.startedAt = r.startedAt - performance.timeOrigin;
          if (r.grpcCode !== undefined) { up.transcode.grpcCode = r.grpcCode; ctx.source = 'upstream'; }
          if (r.status === 0) return; // a stream answered (or was cancelled) on its port
          stream?.close();
          const res: UpstreamHead = { status: r.status, headers: [...r.headers] };
          for (const p of this.onResponse) p.onResponse!(ctx, res);
          res.headers.push('x-request-id', requestId);
          if (ctx.responseHeaders) res.headers.push(...ctx.responseHeaders);
          sink.sendFull(res.status, res.headers, new Uint8Array(r.body));
        }),
        ctx.guard((e: Error) => {
          stream?.close();
          if (ctx.over) return;
          if (e instanceof QueueFullError) ctx.fail(new GatewayError('transcoding_saturated', 'transcoding is saturated; try again'), ['retry-after', '1']);
          else { log.error({ err: e.message, requestId }, 'transcoding failed'); ctx.fail(new GatewayError('internal_error', 'transcoding failed')); }
        }),
      );
    };
    if (ctx.hasBody && !uploads) ctx.readWhole(call);
    else call(null);
  }

  /**
   * A WebSocket to a method (transcode.websocket): the route's policies ran on the upgrade,
   * so a refusal is an HTTP status; an unknown path is a 404. Accepted at once, with
   * grpc-websockets when the client offers it (else JSON text frames); the call runs in the
   * pool, its request messages and answers on the bridge's ports (socket-bridge.ts). In
   * grpc-websockets mode the call starts at the client's header frame, which may add
   * metadata. The deadline: the route timeout, or the grpc-timeout query parameter (or
   * header-frame entry) when shorter.
   */
  private callSocket(ctx: RequestCtx): void {
    const t = this.route;
    const s = t.socket!;
    const upgrade = ctx.sink.upgrade!;
    const found = t.socketMethod(asSent(ctx.head.path, ctx.path));
    if (!found) { ctx.fail(new GatewayError('route_not_found', `no gRPC method is bound to ${ctx.path}`)); return; }
    const { method, vars } = found;
    const binary = upgrade.protocols.includes(GRPC_WEBSOCKETS);
    const timeoutMs = timeoutParam(ctx.head.query);
    let deadline = Math.round(performance.timeOrigin + ctx.timings.start) + this.totalMs;
    if (timeoutMs !== null) deadline = Math.min(deadline, Date.now() + timeoutMs);
    const metadata = this.metadataOf(ctx);
    const env = this.env;
    const counters = this.socketCounters;
    const release = this.sockets!.take(ctx);
    if (!release) return;
    const { requestId } = ctx;
    const start = (extra: Array<[string, string]>, frameTimeoutMs: number | null) => {
      const task: TranscodeTask = {
        gen: env.gen, upstream: t.upstream, binding: method.task, vars, query: '', body: null, metadata: extra.length ? [...metadata, ...extra] : metadata,
        deadline: frameTimeoutMs === null ? deadline : Math.min(deadline, Date.now() + frameTimeoutMs),
        emitDefaults: t.emitDefaults, useProtoNames: t.useProtoNames, enumsAsInts: t.enumsAsInts,
        socket: { port: bridge.workerIn, binary }, stream: { port: bridge.workerOut, sse: false },
      };
      // inline, runCall may throw before its promise exists: a rejection like the pool's
      const run = (): Promise<TranscodeResult> => { try { return env.socketOffload ? runCall(task, env.socketOffload) : env.transcoder.run(task); } catch (e) { return Promise.reject(e); } };
      run().then((r) => {
        // status 0: the call ended on the bridge's ports; else it failed before it started
        if (r.status === 0) return;
        let message = 'the call failed';
        try { message = (JSON.parse(Buffer.from(r.body).toString()) as { message?: string }).message ?? message; } catch { /* not JSON */ }
        const code = r.grpcCode ?? (r.status === 400 ? 3 : 13);
        bridge.endWith(4000 + code, closeReason(code, message));
      }, (e: Error) => {
        if (e instanceof QueueFullError) { bridge.endWith(4014, 'transcoding is saturated; try again'); return; }
        log.error({ err: e.message, requestId }, 'WebSocket bridge call failed');
        bridge.endWith(1011, 'the gateway could not run the call');
      });
    };
    const fixed = new Set([...t.identityHeaders, ...metadata.map(([k]) => k)]);
    const onHeader = binary ? (text: string) => {
      const h = headerFrameMetadata(text, t.metadataHeaders, fixed);
      if (typeof h === 'string') bridge.endWith(1002, h);
      else start(h.metadata, h.timeoutMs);
    } : null;
    const bridge = new SocketBridge(s, binary, !method.clientStreaming, { closed: release, message: counters?.message ?? NO_COUNT }, requestId, onHeader, env.socketOffload !== null);
    ctx.upstream = { name: t.upstream, target: '', sentAt: performance.now(), headersAt: performance.now(), retries: 0, transcode: { grpcPath: method.task.grpcPath, startedAt: 0, grpcCode: null } };
    const client = upgrade.accept(binary ? GRPC_WEBSOCKETS : null, s.compression, bridge);
    if (!client) { bridge.close(); return; }
    counters?.opened();
    bridge.attach(client);
    if (!binary) start([], null);
  }

  /**
   * gRPC-Web at POST /package.Service/Method: the request message is unframed here, the
   * call runs in the pool like a transcoded one (its answer is gRPC-Web frames), and what
   * fails before the call — an unknown method, a broken frame — is a trailers frame too,
   * with HTTP 200 as the protocol wants.
   */
  private callGrpcWeb(ctx: RequestCtx, mode: GrpcWebMode): void {
    const { head, path, sink, requestId } = ctx;
    if (head.method !== 'POST') { ctx.fail(new GatewayError('method_not_allowed', `gRPC-Web calls are POST, not ${head.method}`), ['allow', 'POST']); return; }
    const answer = (code: number, details: string) => {
      const h = ['content-type', mode.contentType, 'x-request-id', requestId];
      if (ctx.responseHeaders) h.push(...ctx.responseHeaders);
      sink.sendFull(200, h, onWire(mode, trailersFrame({ code, details, metadata: [] })));
    };
    const method = this.route.grpcWebMethods!.get(path);
    if (!method) { answer(12, `no method ${path} in the services of this route`); return; }
    if (method.clientStreaming) { answer(12, 'client-streaming and bidi methods cannot be called over gRPC-Web (browsers cannot stream a request body)'); return; }
    const env = this.env;
    let deadline = Math.round(performance.timeOrigin + ctx.timings.start) + this.totalMs;
    const timeout = grpcTimeoutMs(ctx.header('grpc-timeout'));
    if (timeout !== null) deadline = Math.min(deadline, Date.now() + timeout);
    const call = (body: Buffer) => {
      const req = requestMessage(mode, body, ctx.table.config.limits.maxBufferedBodyBytes);
      if (!req.ok) { answer(req.status.code, req.status.details); return; }
      const ab = new ArrayBuffer(req.message.byteLength);
      new Uint8Array(ab).set(req.message);
      const stream = method.serverStreaming ? new StreamRelay(sink, requestId, ctx.responseHeaders) : null;
      const cancellation = stream ? null : env.cancellations.next();
      sink.onAborted(() => { stream?.cancel(); cancellation?.cancel(); });
      const task: TranscodeTask = {
        gen: env.gen, upstream: this.route.upstream, binding: method.task, vars: [], query: '', body: ab, metadata: this.metadataOf(ctx), deadline,
        emitDefaults: false, grpcWeb: mode, cancelSeq: cancellation?.seq,
        stream: stream ? { port: stream.workerPort, sse: false } : undefined,
      };
      const up = (ctx.upstream = { name: this.route.upstream, target: '', sentAt: performance.now(), headersAt: 0, retries: 0, transcode: { grpcPath: method.task.grpcPath, startedAt: 0, grpcCode: null as number | null } });
      env.transcoder.run(task).then(
        ctx.guard((r: TranscodeResult) => {
          up.headersAt = performance.now();
          if (r.startedAt) up.transcode.startedAt = r.startedAt - performance.timeOrigin;
          if (r.grpcCode !== undefined) { up.transcode.grpcCode = r.grpcCode; ctx.source = 'upstream'; }
          if (r.status === 0) return; // streamed on the port
          stream?.close();
          const h = [...r.headers, 'x-request-id', requestId];
          if (ctx.responseHeaders) h.push(...ctx.responseHeaders);
          sink.sendFull(r.status, h, new Uint8Array(r.body));
        }),
        ctx.guard((e: Error) => {
          stream?.close();
          if (ctx.over) return;
          if (e instanceof QueueFullError) answer(14, 'transcoding is saturated; try again');
          else { log.error({ err: e.message, requestId }, 'gRPC-Web call failed'); answer(13, 'the gateway could not run the call'); }
        }),
      );
    };
    if (ctx.hasBody) ctx.readWhole(call);
    else call(Buffer.alloc(0));
  }
}
