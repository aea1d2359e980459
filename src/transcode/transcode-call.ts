// One whole transcoded call — JSON → protobuf, the gRPC call on this thread's own HTTP/2
// channels, protobuf → JSON. Runs in the Piscina workers (transcode-worker.ts), where the
// response body goes back as a transferred ArrayBuffer so the front-end thread never parses
// JSON or protobuf; or inline in the front thread for bodies under
// transcoding.inlineBelowBytes (measured, see docs/transcoding.md).
// Each thread loads the protos once per configuration and runs many calls at once.
import type protobuf from 'protobufjs';
import { Piscina } from 'piscina';
import { loadProtos } from './proto-registry.js';
import { encodeRequest, decodeResponse, type Mapper } from './message-mapping.js';
import { JsonMappingError } from './json-codec.js';
import { HTTP_STATUS_OF, statusBody } from './grpc-status.js';
import { GrpcH2Channel, type ActiveCall, type GrpcStatus } from './grpc-h2-client.js';
import type { PoolData, StreamControl, StreamEvent, TranscodeTask, TranscodeResult } from './task.js';

let data: PoolData = { upstreams: {}, cancelFlags: new SharedArrayBuffer(4), maxMessageBytes: 4 * 1024 * 1024 };
let cancelFlags = new Int32Array(data.cancelFlags);
let transfer = true;
let upstreams = new Map<string, UpstreamState>();

/** Sets this thread's upstreams (a new configuration starts with fresh channels). */
export function configure(next: PoolData, transferResults: boolean): void {
  data = next;
  cancelFlags = new Int32Array(next.cancelFlags);
  transfer = transferResults;
  for (const u of upstreams.values()) for (const c of new Set(u.channels)) c.close();
  upstreams = new Map();
}

interface UpstreamState { root: protobuf.Root; channels: GrpcH2Channel[]; next: number; mappers: Map<string, Mapper> }
function upstream(name: string): UpstreamState {
  let u = upstreams.get(name);
  if (!u) {
    const spec = data.upstreams[name]!;
    const root = loadProtos(spec.protos, spec.baseDir);
    // one channel per distinct target; weights repeat it in the rotation
    const byTarget = new Map(spec.targets.map((t) => [t, new GrpcH2Channel(t, spec.tls, data.maxMessageBytes)]));
    u = { root, channels: spec.targets.map((t) => byTarget.get(t)!), next: 0, mappers: new Map() };
    upstreams.set(name, u);
  }
  return u;
}

function mapperOf(u: UpstreamState, t: TranscodeTask): Mapper {
  const key = `${t.binding.grpcPath}|${t.binding.httpMethod}|${t.binding.template}`;
  let m = u.mappers.get(key);
  if (!m) {
    m = { binding: t.binding, requestType: u.root.lookupType(t.binding.requestType), responseType: u.root.lookupType(t.binding.responseType), root: u.root };
    u.mappers.set(key, m);
  }
  return m;
}

const JSON_TYPE = ['content-type', 'application/json'];

/** The result object, with its body ArrayBuffer transferred (not copied) to the front thread. */
class MovedResult {
  constructor(private readonly value: TranscodeResult) {}
  get [Piscina.transferableSymbol](): ArrayBuffer[] { return [this.value.body]; }
  get [Piscina.valueSymbol](): TranscodeResult { return this.value; }
}

function result(status: number, headers: string[], body: string): TranscodeResult {
  const buf = Buffer.from(body);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  if (!transfer) return { status, headers, body: ab };
  return Piscina.move(new MovedResult({ status, headers, body: ab }) as never) as unknown as TranscodeResult;
}

/** Response metadata → Grpc-Metadata-* headers (binary values stay base64, as grpc-gateway does). */
function metadataHeaders(md: Array<[string, string]>): string[] {
  const out: string[] = [];
  for (const [k, v] of md) out.push(`grpc-metadata-${k}`, v);
  return out;
}

function errorResult(st: GrpcStatus, u: UpstreamState): TranscodeResult {
  return result(HTTP_STATUS_OF[st.code] ?? 500, [...JSON_TYPE, ...metadataHeaders(st.metadata)], statusBody(st.code, st.details, st.detailsBin, u.root));
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
      if (Atomics.load(cancelFlags, s % cancelFlags.length) === s) { watched.delete(s); c.cancel(); }
    }
    if (watched.size === 0 && poller) { clearInterval(poller); poller = null; }
  }, 20);
}

/** Messages the front may be behind by before the gRPC stream is paused. */
const STREAM_WINDOW = 32;

/**
 * Server streaming: each message becomes one NDJSON line (or one SSE event) sent on the
 * task's port; the stream pauses when the front is STREAM_WINDOW messages behind. An error
 * before the first message is an ordinary HTTP error; after it, it is reported in-band.
 */
function runStream(task: TranscodeTask, u: UpstreamState, m: Mapper, request: Uint8Array, channel: GrpcH2Channel): Promise<TranscodeResult> {
  const { port, sse } = task.stream!;
  const frame = (json: string, event?: string) => Buffer.from(sse ? `${event ? `event: ${event}\n` : ''}data: ${json}\n\n` : `${json}\n`);
  const send = (buf: Buffer) => {
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
    port.postMessage({ type: 'data', chunk: ab } satisfies StreamEvent, [ab]);
  };
  return new Promise((resolve) => {
    let started = false;
    let outstanding = 0;
    let headerMd: Array<[string, string]> = [];
    // status 0: "answered on the port" — the port's events and this result travel on
    // different channels, so the front must not take this result for an answer.
    const finish = (r: TranscodeResult | null) => {
      port.close();
      resolve(r ?? result(0, [], ''));
    };
    const head = () => {
      if (started) return;
      started = true;
      port.postMessage({ type: 'head', status: 200, headers: ['content-type', sse ? 'text/event-stream' : 'application/x-ndjson', ...metadataHeaders(headerMd)] } satisfies StreamEvent);
    };
    const call = channel.call(task.binding.grpcPath, request, task.metadata, task.deadline, {
      onHeaders: (md) => { headerMd = md; },
      onMessage: (msg) => {
        head();
        let json: string;
        try { json = decodeResponse(m, msg, task.emitDefaults); } catch {
          json = JSON.stringify({ error: { code: 13, message: 'a stream message does not decode as the declared message', details: [] } });
        }
        send(frame(json));
        if (++outstanding >= STREAM_WINDOW) call.pause();
      },
      onEnd: (st) => {
        if (st.code === 0) { head(); port.postMessage({ type: 'end' } satisfies StreamEvent); finish(null); return; }
        if (!started) { finish(st.code === 1 ? null : errorResult(st, u)); return; }
        send(frame(`{"error":${statusBody(st.code, st.details, st.detailsBin, u.root)}}`, 'error'));
        port.postMessage({ type: 'end' } satisfies StreamEvent);
        finish(null);
      },
    });
    port.once('close', () => call.cancel());
    port.on('message', (c: StreamControl) => {
      if (c.type === 'cancel') { call.cancel(); return; }
      outstanding -= c.n;
      if (outstanding < STREAM_WINDOW) call.resume();
    });
  });
}

export function runCall(task: TranscodeTask): Promise<TranscodeResult> {
  const u = upstream(task.upstream);
  const m = mapperOf(u, task);
  let request: Uint8Array;
  try {
    request = encodeRequest(m, new Map(task.vars), task.query, task.body ? new Uint8Array(task.body) : null);
  } catch (e) {
    if (e instanceof JsonMappingError) return Promise.resolve(result(400, JSON_TYPE, JSON.stringify({ code: 3, message: e.message, details: [] })));
    throw e;
  }
  const channel = u.channels[u.next++ % u.channels.length]!;
  if (task.stream) return runStream(task, u, m, request, channel);
  return new Promise((resolve) => {
    let headerMd: Array<[string, string]> = [];
    let response: Buffer | null = null;
    const seq = task.cancelSeq;
    const call = channel.call(task.binding.grpcPath, request, task.metadata, task.deadline, {
      onHeaders: (md) => { headerMd = md; },
      onMessage: (msg) => { response ??= msg; },
      onEnd: (st) => {
        if (seq !== undefined) watched.delete(seq);
        if (st.code !== 0) { resolve(errorResult(st, u)); return; }
        if (!response) { resolve(result(502, JSON_TYPE, JSON.stringify({ code: 13, message: 'the upstream sent no response message', details: [] }))); return; }
        try {
          resolve(result(200, [...JSON_TYPE, ...metadataHeaders(st.metadata)], decodeResponse(m, response, task.emitDefaults)));
        } catch {
          resolve(result(502, JSON_TYPE, JSON.stringify({ code: 13, message: 'the upstream response does not decode as the declared message', details: [] })));
        }
      },
    });
    if (seq !== undefined) watch(seq, call);
  });
}
