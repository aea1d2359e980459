// One whole transcoded call — JSON → protobuf, the gRPC call on this thread's own HTTP/2
// channels, protobuf → JSON. Runs in the Piscina workers (transcode-worker.ts), where the
// response body goes back as a transferred ArrayBuffer so the front-end thread never parses
// JSON or protobuf; or inline in the front thread for bodies under
// transcoding.inlineBelowBytes (measured, see docs/transcoding.md).
// Each thread compiles a configuration ("generation") when it arrives — protos, message
// types, channels — and runs many calls at once; connections survive reloads.
import type protobuf from 'protobufjs';
import type { MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { loadProtosCached } from './proto-registry.js';
import { Cancellations } from './cancellation.js';
import { answersRaw, encodeRequest, decodeResponse, rawResponse, type Mapper } from './message-mapping.js';
import { compress } from './response-compression.js';
import { frame, headersFrame, onWire, trailersFrame, type GrpcWebMode } from './grpc-web.js';
import type { SocketEvent } from './socket-bridge.js';
import { JsonMappingError } from './json-codec.js';
import { InOrder, type Mapped, type MessageOffload } from './message-offload.js';
import { log } from '../observability/logger.js';
import { HTTP_STATUS_OF, closeReason, statusBody } from './grpc-status.js';
import type { ActiveCall, CallHandlers, GrpcStatus, StreamingCall } from './grpc-h2-client.js';
import { grpcChannel, type GrpcChannel } from './grpc-channel.js';
import type { UploadControl, UploadEvent } from './upload-relay.js';
import type { Family, MetricsStore } from '../observability/metrics/store.js';
import type { OutlierConfig } from '../config/types.js';
import { RetryBudget } from '../upstream/retry-budget.js';
import { GrpcTargetState } from './grpc-target-state.js';
import { GrpcBreaker, type Admission } from './grpc-breaker.js';
import type { GrpcRetry, PoolData, StreamControl, StreamEvent, TaskBinding, TranscodeTask, TranscodeResult } from './task.js';

let cancellations: Cancellations | null = null;
let transfer = true;
let calls: Family | null = null;
let ejections: Family | null = null;
let offloaded: Family | null = null;

/** gateway_transcoding_calls_total in the process's shared metrics (set once per thread). */
export function useMetrics(store: MetricsStore): void {
  calls = store.family('gateway_transcoding_calls_total');
  ejections = store.family('gateway_upstream_target_ejections_total');
  offloaded = store.family('gateway_transcoding_offloaded_messages_total');
}

/** Epoch ms with fraction: comparable across threads (each has its own performance.timeOrigin). */
const epochNow = () => performance.timeOrigin + performance.now();

function counted(task: TranscodeTask, code: number): void {
  calls?.inc([task.binding.grpcPath.slice(1), String(code)]);
}

/** The cancel flags every thread of the process shares (set once per thread). */
export function useCancelFlags(buffer: SharedArrayBuffer, transferResults: boolean): void {
  cancellations = new Cancellations(buffer);
  transfer = transferResults;
}

/** `channels` is the weighted rotation; `slots[i]` is channels[i]'s target in the shared state. */
interface UpstreamState { name: string; breaker: GrpcBreaker | null; root: protobuf.Root; channels: GrpcChannel[]; slots: number[]; hosts: string[]; next: number; mappers: Map<string, Mapper>; outlier: OutlierConfig }

let targets: GrpcTargetState | null = null;
/** per upstream and budget share, in this thread (as the HTTP routes' budgets are per thread) */
const budgets = new Map<string, RetryBudget>();
/** A transcoding route without a retry block: UNAVAILABLE is retried once, idempotent methods only. */
const DEFAULT_RETRY: GrpcRetry = { attempts: 1, codes: [14], allMethods: false, backoffMs: 25, budgetPercent: 20 };
const UNAVAILABLE = 14;

/** A configuration of the pool ("generation"): its upstreams, compiled when it arrives. */
interface Generation { upstreams: Map<string, UpstreamState>; channelKeys: string[] }

/** Generations kept: the newest, and older ones requests that started before a reload may still use. */
const KEEP = 4;
const generations = new Map<number, Generation>();
/** HTTP/2 channels by target and settings, shared by the generations that use them (a reload keeps connections). */
const channels = new Map<string, { channel: GrpcChannel; users: number }>();

function mapperKey(b: TaskBinding): string {
  return `${b.grpcPath}|${b.httpMethod}|${b.template}`;
}

function channelFor(key: string, make: () => GrpcChannel): GrpcChannel {
  let c = channels.get(key);
  if (!c) channels.set(key, (c = { channel: make(), users: 0 }));
  c.users++;
  return c.channel;
}

function release(gen: Generation): void {
  for (const key of gen.channelKeys) {
    const c = channels.get(key);
    if (c && --c.users === 0) { c.channel.close(); channels.delete(key); }
  }
}

/**
 * Compiles generation `gen` in this thread at once: protos parsed (or reused when
 * unchanged), every binding's message types resolved, channels made (or kept). Throws
 * when something does not compile: the reload that sent it then fails.
 */
export function configure(gen: number, data: PoolData): void {
  if (generations.has(gen)) return;
  const next: Generation = { upstreams: new Map(), channelKeys: [] };
  if (targets?.buffer !== data.grpcTargets) targets = new GrpcTargetState(data.grpcTargets);
  try {
    for (const [name, spec] of Object.entries(data.upstreams)) {
      const root = loadProtosCached(spec.protos, spec.baseDir);
      const mappers = new Map<string, Mapper>();
      for (const b of spec.bindings) {
        mappers.set(mapperKey(b), { binding: b, requestType: root.lookupType(b.requestType), responseType: root.lookupType(b.responseType), root });
      }
      // one channel per distinct target; weights repeat it in the rotation
      const byTarget = new Map<string, GrpcChannel>();
      for (const t of new Set(spec.targets)) {
        const key = JSON.stringify([t, spec.tls ?? null, data.maxMessageBytes, spec.compression ?? null, spec.http2 ?? null]);
        next.channelKeys.push(key);
        byTarget.set(t, channelFor(key, () => grpcChannel(t, spec.tls, data.maxMessageBytes, spec.compression, spec.http2)));
      }
      next.upstreams.set(name, { name, breaker: spec.breaker ? new GrpcBreaker(targets!, name, spec.breaker) : null, hosts: spec.targets.map((t) => new URL(t).host), root, channels: spec.targets.map((t) => byTarget.get(t)!), slots: spec.targets.map((t) => targets!.slotOf(name, t)), next: 0, mappers, outlier: spec.outlier });
    }
  } catch (e) {
    release(next);
    throw e;
  }
  generations.set(gen, next);
  for (const old of [...generations.keys()].sort((a, b) => a - b).slice(0, Math.max(0, generations.size - KEEP))) {
    release(generations.get(old)!);
    generations.delete(old);
  }
}

/** Closes every channel (the thread is ending). */
export function closeAll(): void {
  for (const g of generations.values()) release(g);
  generations.clear();
}

function upstream(task: TranscodeTask): UpstreamState {
  const u = generations.get(task.gen)?.upstreams.get(task.upstream);
  if (!u) throw new Error(`transcoding generation ${task.gen} (upstream "${task.upstream}") is not configured in this thread`);
  return u;
}

function mapperOf(u: UpstreamState, t: TranscodeTask): Mapper {
  const m = u.mappers.get(mapperKey(t.binding));
  if (!m) throw new Error(`binding ${t.binding.grpcPath} was not compiled for this generation`);
  return m;
}

const JSON_TYPE = ['content-type', 'application/json'];

/** The result object, with its body ArrayBuffer transferred (not copied) to the front thread. */
class MovedResult {
  constructor(private readonly value: TranscodeResult) {}
  get [Piscina.transferableSymbol](): ArrayBuffer[] { return [this.value.body]; }
  get [Piscina.valueSymbol](): TranscodeResult { return this.value; }
}

/** A task's answer (a transcoded call, an aggregate's composition), its body transferred when it runs in a worker. */
/** `body` as bytes; `owned`: a Buffer whose ArrayBuffer is its own to move (jsonOf's). */
export function result(status: number, headers: string[], body: string | Uint8Array, call?: { grpcCode: number; startedAt: number }, owned = false): TranscodeResult {
  const buf = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  // A large string's Buffer has an ArrayBuffer of its own (not Node's 8 KB pool): moved as it
  // is, not copied once more. Anything else (pooled, a view into a message) is copied out.
  const own = (typeof body === 'string' || owned) && buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength && buf.buffer instanceof ArrayBuffer;
  const ab = own ? buf.buffer as ArrayBuffer : buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  const value: TranscodeResult = call ? { status, headers, body: ab, grpcCode: call.grpcCode, startedAt: call.startedAt } : { status, headers, body: ab };
  if (!transfer) return value;
  return Piscina.move(new MovedResult(value) as never) as unknown as TranscodeResult;
}

/** Response metadata → Grpc-Metadata-* headers (binary values stay base64, as grpc-gateway does). */
function metadataHeaders(md: Array<[string, string]>): string[] {
  const out: string[] = [];
  for (const [k, v] of md) out.push(`grpc-metadata-${k}`, v);
  return out;
}

function errorResult(st: GrpcStatus, u: UpstreamState, startedAt: number): TranscodeResult {
  return result(HTTP_STATUS_OF[st.code] ?? 500, [...JSON_TYPE, ...metadataHeaders(st.metadata)], statusBody(st.code, st.details, st.detailsBin, u.root), { grpcCode: st.code, startedAt });
}

/**
 * Unary calls whose client may leave: polled against the shared cancel flags while any
 * is running (every 20 ms; cancelling is not urgent, it only spares the upstream work).
 */
const watched = new Map<number, ActiveCall>();
let poller: NodeJS.Timeout | null = null;

function watch(seq: number, call: ActiveCall): void {
  watched.set(seq, call);
  poller ??= setInterval(() => {
    for (const [s, c] of watched) {
      if (cancellations?.cancelled(s)) { watched.delete(s); c.cancel(); }
    }
    if (watched.size === 0 && poller) { clearInterval(poller); poller = null; }
  }, 20);
}

/** One message of a stream as JSON; one that does not decode becomes an in-band error (a stream has no other place for it). */
function streamMessageJson(m: Mapper, msg: Buffer, task: TranscodeTask): string {
  try { return decodeResponse(m, msg, task); } catch {
    return JSON.stringify({ error: { code: 13, message: 'a stream message does not decode as the declared message', details: [] } });
  }
}

/** Messages the front may be behind by before the gRPC stream is paused. */
const STREAM_WINDOW = 32;

/**
 * The worker end of a stream's port: chunks go out transferred, and the front's credits
 * resume a call paused when STREAM_WINDOW messages are unread; the port closing or a
 * cancel from the front cancels the call.
 */
class StreamPort {
  private outstanding = 0;
  constructor(readonly port: MessagePort) {}
  chunk(buf: Buffer): void {
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
    this.port.postMessage({ type: 'data', chunk: ab } satisfies StreamEvent, [ab]);
  }
  /** a WebSocket bridge's JSON message: posted as a bare string (half the cost of an object with a transferred buffer) */
  text(json: string): void {
    this.port.postMessage(json);
  }
  /** one more message the front has not taken yet */
  sent(call: ActiveCall): void {
    if (++this.outstanding >= STREAM_WINDOW) call.pause();
  }
  follow(call: ActiveCall): void {
    this.port.once('close', () => call.cancel());
    this.port.on('message', (c: StreamControl) => {
      if (c.type === 'cancel') { call.cancel(); return; }
      this.outstanding -= c.n;
      if (this.outstanding < STREAM_WINDOW) call.resume();
    });
  }
}

/**
 * Server streaming: each message becomes one NDJSON line (or one SSE event) sent on the
 * task's port; the stream pauses when the front is STREAM_WINDOW messages behind. An error
 * before the first message is an ordinary HTTP error; after it, it is reported in-band.
 */
function runStream(task: TranscodeTask, u: UpstreamState, m: Mapper, request: Uint8Array, target: number, admission: Admission): Promise<TranscodeResult> {
  const { port, sse } = task.stream!;
  const frame = (json: string, event?: string) => Buffer.from(sse ? `${event ? `event: ${event}\n` : ''}data: ${json}\n\n` : `${json}\n`);
  const out = new StreamPort(port);
  const startedAt = epochNow();
  return new Promise((resolve) => {
    let started = false;
    let headerMd: Array<[string, string]> = [];
    // status 0: "answered on the port" — the port's events and this result travel on
    // different channels, so the front must not take this result for an answer.
    const finish = (r: TranscodeResult | null) => {
      port.close();
      resolve(r ?? result(0, [], '', { grpcCode: 0, startedAt }));
    };
    // google.api.HttpBody messages stream as raw chunks, with the first one's content type
    const rawStream = answersRaw(m);
    const head = (type = sse ? 'text/event-stream' : 'application/x-ndjson') => {
      if (started) return;
      started = true;
      port.postMessage({ type: 'head', status: 200, headers: ['content-type', type, ...metadataHeaders(headerMd)] } satisfies StreamEvent);
      // The answer is on the port now: the pool slot is given back (a stream may last hours;
      // holding a slot each, a few slow clients would queue every other call of the pool).
      resolve(result(0, [], '', { grpcCode: 0, startedAt }));
    };
    const call = callOn(u, target, admission, task.binding.grpcPath, request, task, {
      onHeaders: (md) => { headerMd = md; },
      onMessage: (msg) => {
        if (rawStream) {
          let raw: ReturnType<typeof rawResponse> = null;
          try { raw = rawResponse(m, msg); } catch { /* not decodable: dropped, as the stream has no in-band errors */ }
          head(raw?.contentType);
          if (raw && raw.data.byteLength) out.chunk(Buffer.from(raw.data));
          out.sent(call);
          return;
        }
        head();
        out.chunk(frame(streamMessageJson(m, msg, task)));
        out.sent(call);
      },
      onEnd: (st) => {
        counted(task, st.code);
        if (st.code === 0) { head(); port.postMessage({ type: 'end' } satisfies StreamEvent); finish(null); return; }
        if (!started) { finish(st.code === 1 ? null : errorResult(st, u, startedAt)); return; }
        if (rawStream) { port.postMessage({ type: 'abort' } satisfies StreamEvent); finish(null); return; }
        out.chunk(frame(`{"error":${statusBody(st.code, st.details, st.detailsBin, u.root)}}`, 'error'));
        port.postMessage({ type: 'end' } satisfies StreamEvent);
        finish(null);
      },
    });
    out.follow(call);
  });
}

/**
 * The next target in the weighted rotation that is neither down (health check) nor ejected
 * (outlier detection), other than `avoid` when another one is available; -1: none is.
 */
function pick(u: UpstreamState, now: number, avoid = -1): number {
  const n = u.channels.length;
  let fallback = -1;
  for (let i = 0; i < n; i++) {
    const k = u.next++ % n;
    if (!targets!.available(u.slots[k]!, now)) continue;
    if (u.slots[k] !== avoid || n === 1) return k;
    fallback = k;
  }
  return fallback;
}

const NO_TARGET: GrpcStatus = { code: UNAVAILABLE, details: 'no healthy upstream target', metadata: [] };

/** Codes that are the server's failure (Envoy maps them to 5xx), not the application's answer: the breaker counts them. */
const SERVER_FAILURES = new Set([2, 4, 13, 14, 15]);

/** An open breaker's answer: at once, with when to come back. */
function breakerOpen(u: UpstreamState, task: TranscodeTask, startedAt: number): TranscodeResult {
  counted(task, UNAVAILABLE);
  return result(503, [...JSON_TYPE, 'retry-after', String(u.breaker!.retryAfterSec(epochNow()))], JSON.stringify({ code: UNAVAILABLE, message: `the circuit breaker of upstream "${u.name}" is open`, details: [] }), { grpcCode: UNAVAILABLE, startedAt });
}

/** A call's handlers on target k, counted in the shared state (requests, in flight, UNAVAILABLE streaks, the breaker). */
function tracked(u: UpstreamState, k: number, admission: Admission, h: CallHandlers): CallHandlers {
  const slot = u.slots[k]!;
  targets!.started(slot);
  return {
    onHeaders: h.onHeaders,
    onMessage: h.onMessage,
    onEnd: (st) => {
      const now = epochNow();
      if (targets!.finished(slot, st.code === UNAVAILABLE, u.outlier, u.slots, now)) ejections?.inc([u.name, u.hosts[k]!]);
      if (st.code === 1) u.breaker?.release(); // the client left: no verdict
      else u.breaker?.record(!SERVER_FAILURES.has(st.code), admission === 'probe', now);
      h.onEnd(st);
    },
  };
}

/** A unary-request call on target k. */
function callOn(u: UpstreamState, k: number, admission: Admission, path: string, request: Uint8Array, task: TranscodeTask, h: CallHandlers): ActiveCall {
  return u.channels[k]!.call(path, request, task.metadata, task.deadline, tracked(u, k, admission, h));
}

/** A call with its request stream open (client streaming, bidi) on target k. */
function openOn(u: UpstreamState, k: number, admission: Admission, path: string, task: TranscodeTask, h: CallHandlers): StreamingCall {
  return u.channels[k]!.open(path, task.metadata, task.deadline, tracked(u, k, admission, h));
}

/**
 * Client streaming and bidi over HTTP/1.1: the request body is NDJSON, one request message
 * a line (mapped as a unary body is, path variables and query applied to each), streamed to
 * the server as it arrives under the relay's credits (upload-relay.ts); the answer is one
 * JSON message (client streaming) or NDJSON, a line per response message as it comes
 * (bidi). A bad line cancels the call: a 400 while nothing was answered, else an in-band
 * error line.
 */
function runUpload(task: TranscodeTask, u: UpstreamState, m: Mapper, target: number, admission: Admission): Promise<TranscodeResult> {
  const startedAt = epochNow();
  const { port: upload, maxLineBytes } = task.upload!;
  const out = task.stream ? new StreamPort(task.stream.port) : null;
  const seq = task.cancelSeq;
  return new Promise((resolve) => {
    let done = false;
    let started = false;
    let response: Buffer | null = null;
    let headerMd: Array<[string, string]> = [];
    let lineNo = 0;
    const pending: Buffer[] = [];
    let pendingBytes = 0;
    let congested = false;
    let consumed = 0;
    const finish = (r: TranscodeResult) => {
      if (done) return;
      done = true;
      if (seq !== undefined) watched.delete(seq);
      upload.close();
      out?.port.close();
      resolve(r);
    };
    const streamed = () => result(0, [], '', { grpcCode: 0, startedAt });
    const head = () => {
      if (started || !out) return;
      started = true;
      out.port.postMessage({ type: 'head', status: 200, headers: ['content-type', 'application/x-ndjson', ...metadataHeaders(headerMd)] } satisfies StreamEvent);
      resolve(streamed()); // the pool slot is given back (see runStream)
    };
    const sendLine = (json: string) => out!.chunk(Buffer.from(`${json}\n`));
    const endStream = () => out!.port.postMessage({ type: 'end' } satisfies StreamEvent);
    const bad = (message: string) => {
      call.cancel();
      const body = JSON.stringify({ code: 3, message, details: [] });
      if (out && started) { sendLine(`{"error":${body}}`); endStream(); finish(streamed()); }
      else finish(result(400, JSON_TYPE, body, { grpcCode: 3, startedAt }));
    };
    const call = openOn(u, target, admission, task.binding.grpcPath, task, {
      onHeaders: (md) => { headerMd = md; },
      onMessage: (msg) => {
        if (!out) { response ??= msg; return; }
        head();
        sendLine(streamMessageJson(m, msg, task));
        out.sent(call);
      },
      onEnd: (st) => {
        counted(task, st.code);
        if (done) return;
        if (!out) { finish(unaryAnswer(task, u, m, st, response, startedAt)); return; }
        if (st.code === 0) { head(); endStream(); finish(streamed()); return; }
        if (!started) { finish(st.code === 1 ? streamed() : errorResult(st, u, startedAt)); return; }
        sendLine(`{"error":${statusBody(st.code, st.details, st.detailsBin, u.root)}}`);
        endStream();
        finish(streamed());
      },
    });
    if (seq !== undefined) watch(seq, call);
    const credit = () => {
      if (!consumed || congested) return;
      try { upload.postMessage({ type: 'consumed', bytes: consumed } satisfies UploadControl); } catch { /* closed */ }
      consumed = 0;
    };
    const line = (raw: Buffer) => {
      lineNo++;
      let end = raw.length;
      while (end > 0 && (raw[end - 1] === 0x0d || raw[end - 1] === 0x20 || raw[end - 1] === 0x09)) end--;
      if (end === 0) return; // blank lines are allowed between messages
      let msg: Uint8Array;
      try { msg = encodeRequest(m, new Map(task.vars), task.query, raw.subarray(0, end), 'application/json', task.ignoreUnknownQuery); } catch (e) {
        if (e instanceof JsonMappingError) { bad(`line ${lineNo}: ${e.message}`); return; }
        throw e;
      }
      if (!call.send(msg) && !congested) { congested = true; call.onDrain(() => { congested = false; credit(); }); }
    };
    upload.on('message', (e: UploadEvent) => {
      if (done) return;
      if (e.type === 'end') {
        if (pendingBytes) { const last = Buffer.concat(pending); pending.length = 0; pendingBytes = 0; line(last); }
        if (!done) call.end();
        return;
      }
      const chunk = Buffer.from(e.chunk);
      let start = 0;
      while (!done) {
        const nl = chunk.indexOf(0x0a, start);
        const piece = chunk.subarray(start, nl < 0 ? chunk.length : nl);
        if (pendingBytes + piece.length > maxLineBytes) { bad(`line ${lineNo + 1}: longer than ${maxLineBytes} bytes`); return; }
        if (nl < 0) { if (piece.length) { pending.push(piece); pendingBytes += piece.length; } break; }
        const whole = pendingBytes ? Buffer.concat([...pending, piece]) : piece;
        pending.length = 0;
        pendingBytes = 0;
        start = nl + 1;
        line(whole);
      }
      consumed += chunk.length;
      credit();
    });
    upload.once('close', () => { if (!done) call.cancel(); });
    out?.follow(call);
  });
}

/** Hop-by-hop and framing headers: never copied from an upstream's metadata into an HTTP answer. */
const NOT_METADATA = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding', 'upgrade', 'te', 'trailer', 'proxy-connection', 'host', 'content-type']);

/** gRPC-Web: response metadata goes out as plain response headers (as Envoy's grpc_web filter does). */
function webHeaders(mode: GrpcWebMode, md: Array<[string, string]>): string[] {
  const h = ['content-type', mode.contentType];
  for (const [k, v] of md) if (!NOT_METADATA.has(k) && !k.startsWith(':')) h.push(k, v.replace(/[\r\n]/g, ' '));
  return h;
}

/**
 * A gRPC-Web call: the request message as the client framed it (no JSON), the answer its
 * messages and the trailers frame; a server-streaming call sends each frame as it comes,
 * under the same credit window as the NDJSON streams. Not retried (as grpc-js does not
 * retry without a service config).
 */
function runGrpcWeb(task: TranscodeTask, u: UpstreamState, startedAt: number): Promise<TranscodeResult> {
  const mode = task.grpcWeb!;
  const request = task.body ? new Uint8Array(task.body) : new Uint8Array(0);
  const answer = (st: GrpcStatus, md: Array<[string, string]>, frames: Buffer[]) =>
    result(200, webHeaders(mode, md), onWire(mode, Buffer.concat([...frames, trailersFrame(st, md)])), { grpcCode: st.code, startedAt });
  const admission = u.breaker?.allow(startedAt) ?? 'yes';
  if (admission === 'no') { counted(task, UNAVAILABLE); return Promise.resolve(answer({ code: UNAVAILABLE, details: `the circuit breaker of upstream "${u.name}" is open`, metadata: [] }, [], [])); }
  const first = pick(u, startedAt);
  if (first < 0) { if (admission === 'probe') u.breaker!.release(); counted(task, UNAVAILABLE); return Promise.resolve(answer(NO_TARGET, [], [])); }
  if (task.stream) return runGrpcWebStream(task, u, request, first, admission, startedAt);
  return new Promise((resolve) => {
    const seq = task.cancelSeq;
    let headerMd: Array<[string, string]> = [];
    const frames: Buffer[] = [];
    const call = callOn(u, first, admission, task.binding.grpcPath, request, task, {
      onHeaders: (md) => { headerMd = md; },
      onMessage: (msg) => { frames.push(frame(0, msg)); },
      onEnd: (st) => {
        if (seq !== undefined) watched.delete(seq);
        counted(task, st.code);
        resolve(answer(st, headerMd, frames));
      },
    });
    if (seq !== undefined) watch(seq, call);
  });
}

function runGrpcWebStream(task: TranscodeTask, u: UpstreamState, request: Uint8Array, target: number, admission: Admission, startedAt: number): Promise<TranscodeResult> {
  const mode = task.grpcWeb!;
  const { port } = task.stream!;
  const out = new StreamPort(port);
  const send = (bytes: Buffer) => out.chunk(onWire(mode, bytes));
  return new Promise((resolve) => {
    let started = false;
    let headerMd: Array<[string, string]> = [];
    const head = () => {
      if (started) return;
      started = true;
      port.postMessage({ type: 'head', status: 200, headers: webHeaders(mode, headerMd) } satisfies StreamEvent);
      resolve(result(0, [], '', { grpcCode: 0, startedAt })); // the pool slot is given back (see runStream)
    };
    const call = callOn(u, target, admission, task.binding.grpcPath, request, task, {
      onHeaders: (md) => { headerMd = md; head(); },
      onMessage: (msg) => {
        head();
        send(frame(0, msg));
        out.sent(call);
      },
      onEnd: (st) => {
        counted(task, st.code);
        head();
        send(trailersFrame(st, headerMd));
        port.postMessage({ type: 'end' } satisfies StreamEvent);
        port.close();
        // status 0: answered on the port (see runStream)
        resolve(result(0, [], '', { grpcCode: st.code, startedAt }));
      },
    });
    out.follow(call);
  });
}

/** A WebSocket message is the whole request message, whatever the binding's body: its mapper with body "*" (path variables still apply). */
const wholeMessages = new WeakMap<Mapper, Mapper>();
function wholeMessage(m: Mapper): Mapper {
  if (m.binding.body === '*') return m;
  let w = wholeMessages.get(m);
  if (!w) wholeMessages.set(m, (w = { ...m, binding: { ...m.binding, body: '*' } }));
  return w;
}

/**
 * The WebSocket bridge (socket-bridge.ts): every method kind as one call with its request
 * stream open; each request message arrives on the task's socket port (JSON mapped as a
 * whole message with the path variables set in each — the query is not mapped; or the protobuf bytes in
 * grpc-websockets mode), each response message goes out as one WebSocket message. The end:
 * a close frame 1000, or 4000 + code with the status message, after a final
 * {"error": …} message when the status has details (JSON mode); grpc-websockets mode sends
 * the header frame, the messages and the trailers frame, then closes with 1000.
 */
function runSocket(task: TranscodeTask, u: UpstreamState, binding: Mapper, startedAt: number, offload: MessageOffload | null): Promise<TranscodeResult> {
  const { port: input, binary } = task.socket!;
  const m = wholeMessage(binding);
  const out = new StreamPort(task.stream!.port);
  return new Promise((resolve) => {
    let done = false;
    let headerSent = false;
    let headerMd: Array<[string, string]> = [];
    let congested = false;
    let consumed = 0;
    const closeWith = (code: number, reason: string) => {
      try { out.port.postMessage({ type: 'close', code, reason } satisfies StreamEvent); } catch { /* closed */ }
    };
    const head = () => {
      if (!binary || headerSent) return;
      headerSent = true;
      out.chunk(headersFrame('application/grpc-web+proto', headerMd));
    };
    const end = (st: GrpcStatus) => {
      if (done) return;
      done = true;
      counted(task, st.code);
      try {
        if (binary) { head(); out.chunk(trailersFrame(st, headerMd)); closeWith(1000, ''); }
        else {
          if (st.code !== 0 && st.detailsBin?.byteLength) out.chunk(Buffer.from(`{"error":${statusBody(st.code, st.details, st.detailsBin, u.root)}}`));
          closeWith(st.code === 0 ? 1000 : 4000 + st.code, st.code === 0 ? '' : closeReason(st.code, st.details));
        }
      } catch { /* the client left: the ports are closed */ }
      input.close();
      out.port.close();
      resolve(result(0, [], '', { grpcCode: st.code, startedAt }));
    };
    const admission = u.breaker?.allow(startedAt) ?? 'yes';
    if (admission === 'no') { end({ code: UNAVAILABLE, details: `the circuit breaker of upstream "${u.name}" is open`, metadata: [] }); return; }
    const target = pick(u, startedAt);
    if (target < 0) { if (admission === 'probe') u.breaker!.release(); end(NO_TARGET); return; }
    /** the gateway ends the call: CANCELLED upstream, `st` to the client */
    const cancelWith = (st: GrpcStatus) => { call.cancel(); end(st); };
    const broken = (e: Error) => { log.error({ err: e.message, stack: e.stack }, 'a WebSocket bridge message failed'); cancelWith({ code: 13, details: 'the gateway could not map a message', metadata: [] }); };
    // Each way in order: a message mapped in the pool (offload, front thread only) holds back what follows it.
    const method = task.binding.grpcPath.slice(1);
    const vars = new Map(task.vars); // read, never changed, by each message's mapping
    const inbound = new InOrder(broken);
    const outbound = new InOrder(broken);
    const call = openOn(u, target, admission, task.binding.grpcPath, task, {
      onHeaders: (md) => { headerMd = md; head(); },
      onMessage: (msg) => {
        if (done) return;
        if (binary) { head(); out.chunk(frame(0, msg)); }
        else if (offload && msg.byteLength >= offload.above) {
          offloaded?.inc([method, 'out']);
          outbound.push(offload.map(task, 'decode', msg), (r) => {
            if (done) return;
            if ('error' in r) cancelWith(r.error); else out.text(Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength).toString());
          });
        } else outbound.push(streamMessageJson(m, msg, task), (json) => { if (!done) out.text(json); });
        out.sent(call);
      },
      onEnd: (st) => outbound.push(st, end), // after the answers still being mapped
    });
    // Everything else happens on the ports: the pool slot is given back at once (a bridged
    // call may last hours; holding a slot each, 32 open sockets would queue every other call).
    resolve(result(0, [], '', { grpcCode: 0, startedAt }));
    // Reported in batches: the front's count may run up to 64 KB ahead, well under its 1 MB mark.
    const credit = () => {
      if (consumed < 65536 || congested) return;
      try { input.postMessage({ type: 'consumed', bytes: consumed } satisfies UploadControl); } catch { /* closed */ }
      consumed = 0;
    };
    const send = (msg: Uint8Array, bytes: number) => {
      if (done) return;
      try {
        if (!call.send(msg) && !congested) { congested = true; call.onDrain(() => { congested = false; credit(); }); }
      } catch {
        cancelWith({ code: 13, details: 'the gateway could not send the message', metadata: [] });
        return;
      }
      consumed += bytes;
      credit();
    };
    const encoded = (body: string | Uint8Array): Mapped => {
      try { return { bytes: encodeRequest(m, vars, '', body, 'application/json') }; } catch (err) {
        return { error: err instanceof JsonMappingError ? { code: 3, details: err.message, metadata: [] } : { code: 13, details: 'the gateway could not encode the message', metadata: [] } };
      }
    };
    const mapped = (bytes: number) => (r: Mapped) => {
      if (done) return;
      if ('error' in r) cancelWith(r.error); else send(r.bytes, bytes); // never thrown out of a port listener: that would end the worker
    };
    input.on('message', (e: SocketEvent) => {
      if (done) return;
      if (typeof e !== 'string' && e.type === 'end') { inbound.push(null, () => { if (!done) call.end(); }); return; }
      // grpc-websockets mode: the bytes of a binary frame, sent as they are
      if (typeof e !== 'string') { const b = new Uint8Array(e.chunk); inbound.push(b, (msg) => send(msg, msg.byteLength)); return; }
      // JSON mode: the message's text (front threads post text frames as strings)
      const bytes = Buffer.byteLength(e);
      if (offload && bytes >= offload.above) {
        offloaded?.inc([method, 'in']);
        inbound.push(offload.map(task, 'encode', Buffer.from(e)), mapped(bytes));
      } else inbound.push(encoded(e), mapped(bytes));
    });
    input.once('close', () => { if (!done) call.cancel(); }); // the client went away: CANCELLED upstream
    out.follow(call);
  });
}

/** A bridge message too large to map in the front thread (message-offload.ts): JSON → protobuf, or protobuf → JSON; 400 with the reason when the JSON does not map. */
function mapOnly(task: TranscodeTask, binding: Mapper): TranscodeResult {
  const m = wholeMessage(binding);
  const b = Buffer.from(task.body!);
  if (task.mapOnly === 'decode') return result(200, [], streamMessageJson(m, b, task));
  if (task.mapOnly === 'answer') return answerOf(task, binding, b, []);
  try { return result(200, [], encodeRequest(m, new Map(task.vars), '', b, 'application/json'), undefined, true); } catch (e) {
    if (e instanceof JsonMappingError) return result(400, [], e.message);
    throw e;
  }
}

/** The HTTP answer of a call with one response message (unary, client streaming): its status, raw HttpBody or JSON (compressed when asked). */
function unaryAnswer(task: TranscodeTask, u: UpstreamState, m: Mapper, st: GrpcStatus, response: Buffer | null, startedAt: number): TranscodeResult {
  if (st.code !== 0) return errorResult(st, u, startedAt);
  if (!response) return result(502, JSON_TYPE, JSON.stringify({ code: 13, message: 'the upstream sent no response message', details: [] }), { grpcCode: st.code, startedAt });
  return answerOf(task, m, response, metadataHeaders(st.metadata), { grpcCode: st.code, startedAt });
}

/** The answer's status, headers (`extra` appended on success) and body from its one message. */
function answerOf(task: TranscodeTask, m: Mapper, response: Buffer, extra: string[], call?: { grpcCode: number; startedAt: number }): TranscodeResult {
  try {
    const raw = rawResponse(m, response);
    if (raw) return result(200, ['content-type', raw.contentType, ...extra], raw.data, call);
    const json = decodeResponse(m, response, task, true);
    const packed = task.compress ? compress(json, task.compress.minBytes, task.compress.accept) : null;
    if (packed) return result(200, [...JSON_TYPE, 'content-encoding', packed.encoding, 'vary', 'accept-encoding', ...extra], packed.bytes, call);
    return result(200, [...JSON_TYPE, ...(task.compress ? ['vary', 'accept-encoding'] : []), ...extra], json, call, true);
  } catch {
    return result(502, JSON_TYPE, JSON.stringify({ code: 13, message: 'the upstream response does not decode as the declared message', details: [] }), call);
  }
}

/**
 * A unary call run in a front thread: an answer message of at least `offload.above` bytes is
 * mapped in the pool (its JSON grows with it), a smaller one here. Rejects as the pool does.
 */
function inlineAnswer(task: TranscodeTask, u: UpstreamState, m: Mapper, st: GrpcStatus, response: Buffer | null, startedAt: number, offload: MessageOffload | null): TranscodeResult | Promise<TranscodeResult> {
  if (!offload || st.code !== 0 || !response || response.length < offload.above) return unaryAnswer(task, u, m, st, response, startedAt);
  return offload.answer(task, response).then((r) => ({ ...r, headers: r.status === 200 ? [...r.headers, ...metadataHeaders(st.metadata)] : r.headers, grpcCode: st.code, startedAt }));
}

/** `offload`: a call run in a front thread hands its large messages (a bridge's, a unary answer) to the pool. */
export function runCall(task: TranscodeTask, offload: MessageOffload | null = null): Promise<TranscodeResult> {
  const startedAt = epochNow();
  const u = upstream(task);
  if (task.grpcWeb) return runGrpcWeb(task, u, startedAt);
  const m = mapperOf(u, task);
  if (task.mapOnly) return Promise.resolve(mapOnly(task, m));
  if (task.socket) return runSocket(task, u, m, startedAt, offload);
  let request: Uint8Array;
  try {
    request = encodeRequest(m, new Map(task.vars), task.query, task.body ? new Uint8Array(task.body) : null, task.contentType ?? null, task.ignoreUnknownQuery);
  } catch (e) {
    if (e instanceof JsonMappingError) return Promise.resolve(result(400, JSON_TYPE, JSON.stringify({ code: 3, message: e.message, details: [] })));
    throw e;
  }
  const admission = u.breaker?.allow(startedAt) ?? 'yes';
  if (admission === 'no') return Promise.resolve(breakerOpen(u, task, startedAt));
  const first = pick(u, startedAt);
  if (first < 0) { if (admission === 'probe') u.breaker!.release(); counted(task, UNAVAILABLE); return Promise.resolve(errorResult(NO_TARGET, u, startedAt)); }
  if (task.upload) return runUpload(task, u, m, first, admission);
  if (task.stream) return runStream(task, u, m, request, first, admission);
  const retry = task.retry ?? DEFAULT_RETRY;
  // Keyed by the share too: two routes with different budgets to one upstream keep one bucket each.
  const budgetKey = `${task.upstream}|${retry.budgetPercent}`;
  let budget = budgets.get(budgetKey);
  if (!budget) budgets.set(budgetKey, (budget = new RetryBudget(retry.budgetPercent / 100)));
  budget.deposit();
  const retryable = (retry.allMethods || task.binding.idempotent) && retry.attempts > 0;
  return new Promise((resolve) => {
    const seq = task.cancelSeq;
    const attempt = (k: number, tries: number, admitted: Admission) => {
      let response: Buffer | null = null;
      const call = callOn(u, k, admitted, task.binding.grpcPath, request, task, {
        onHeaders: () => {},
        onMessage: (msg) => { response ??= msg; },
        onEnd: (st) => {
          if (seq !== undefined) watched.delete(seq);
          const now = epochNow();
          // Another target, if time is left, the client is still there and the budget allows.
          if (st.code !== 0 && retryable && tries < retry.attempts && retry.codes.includes(st.code) && !(seq !== undefined && cancellations?.cancelled(seq))) {
            const wait = retry.backoffMs * 2 ** tries * (0.5 + Math.random());
            const next = pick(u, now, u.slots[k]);
            if (next >= 0 && now + wait < task.deadline && budget!.tryWithdraw()) {
              setTimeout(() => {
                const again = u.breaker?.allow(epochNow()) ?? 'yes';
                if (again === 'no') resolve(errorResult(st, u, startedAt));
                else attempt(next, tries + 1, again);
              }, wait);
              return;
            }
          }
          counted(task, st.code);
          resolve(inlineAnswer(task, u, m, st, response, startedAt, offload));
        },
      });
      if (seq !== undefined) watch(seq, call);
    };
    attempt(first, 0, admission);
  });
}
