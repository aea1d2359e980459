// A Piscina worker: the whole transcoded call happens here — JSON → protobuf, the gRPC
// call on this worker's own grpc-js channels, protobuf → JSON — and the response body goes
// back as a transferred ArrayBuffer, so the front-end thread never parses JSON or protobuf.
// Each worker loads the protos once (per pool, i.e. per config) and runs many calls at once.
import { workerData } from 'node:worker_threads';
import grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { Piscina } from 'piscina';
import { loadProtos } from './proto-registry.js';
import { encodeRequest, decodeResponse, type Mapper } from './message-mapping.js';
import { JsonMappingError } from './json-codec.js';
import { HTTP_STATUS_OF, statusBody } from './grpc-status.js';
import type { PoolData, StreamControl, StreamEvent, TranscodeTask, TranscodeResult } from './task.js';

const data = workerData as PoolData;

interface UpstreamState { root: protobuf.Root; clients: grpc.Client[]; next: number; mappers: Map<string, Mapper> }
const upstreams = new Map<string, UpstreamState>();

function upstream(name: string): UpstreamState {
  let u = upstreams.get(name);
  if (!u) {
    const spec = data.upstreams[name]!;
    const root = loadProtos(spec.protos, spec.baseDir);
    const clients = spec.targets.map((t) => new grpc.Client(t, grpc.credentials.createInsecure()));
    u = { root, clients, next: 0, mappers: new Map() };
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
  return Piscina.move(new MovedResult({ status, headers, body: ab }) as never) as unknown as TranscodeResult;
}

/** Transport headers, not application metadata. */
const NOT_METADATA = new Set(['content-type', 'date', 'user-agent', 'grpc-encoding', 'grpc-accept-encoding', 'grpc-status-details-bin']);

/** Response metadata → Grpc-Metadata-* headers (binary values base64, as grpc-gateway does). */
function metadataHeaders(md: grpc.Metadata | null): string[] {
  const out: string[] = [];
  if (!md) return out;
  for (const [k, v] of Object.entries(md.toJSON())) {
    if (NOT_METADATA.has(k)) continue;
    for (const x of v as Array<string | Buffer>) out.push(`grpc-metadata-${k}`, typeof x === 'string' ? x : Buffer.from(x).toString('base64'));
  }
  return out;
}

/** Messages the front may be behind by before the gRPC stream is paused. */
const STREAM_WINDOW = 32;

/**
 * Server streaming: each message becomes one NDJSON line (or one SSE event) sent on the
 * task's port; the stream pauses when the front is STREAM_WINDOW messages behind. An error
 * before the first message is an ordinary HTTP error; after it, it is reported in-band.
 */
function runStream(task: TranscodeTask, u: UpstreamState, m: Mapper, request: Uint8Array, md: grpc.Metadata, client: grpc.Client): Promise<TranscodeResult> {
  const { port, sse } = task.stream!;
  const frame = (json: string, event?: string) => Buffer.from(sse ? `${event ? `event: ${event}\n` : ''}data: ${json}\n\n` : `${json}\n`);
  const send = (buf: Buffer) => {
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
    port.postMessage({ type: 'data', chunk: ab } satisfies StreamEvent, [ab]);
  };
  return new Promise((resolve) => {
    let started = false;
    let outstanding = 0;
    let headerMd: grpc.Metadata | null = null;
    const call = client.makeServerStreamRequest(task.binding.grpcPath, (x: Buffer) => x, (x: Buffer) => x,
      Buffer.from(request.buffer, request.byteOffset, request.byteLength), md, { deadline: task.deadline });
    const finish = (r: TranscodeResult | null) => {
      port.close();
      resolve(r ?? result(200, [], ''));
    };
    const head = () => {
      if (started) return;
      started = true;
      port.postMessage({ type: 'head', status: 200, headers: ['content-type', sse ? 'text/event-stream' : 'application/x-ndjson', ...metadataHeaders(headerMd)] } satisfies StreamEvent);
    };
    let cancelled = false;
    const cancel = () => { if (!cancelled) { cancelled = true; call.cancel(); } };
    port.once('close', cancel);
    port.on('message', (c: StreamControl) => {
      if (c.type === 'cancel') { cancel(); return; }
      outstanding -= c.n;
      if (outstanding < STREAM_WINDOW) call.resume();
    });
    call.on('metadata', (h: grpc.Metadata) => { headerMd = h; });
    call.on('data', (msg: Buffer) => {
      head();
      let json: string;
      try { json = decodeResponse(m, msg, task.emitDefaults); } catch {
        json = JSON.stringify({ error: { code: 13, message: 'a stream message does not decode as the declared message', details: [] } });
      }
      send(frame(json));
      if (++outstanding >= STREAM_WINDOW) call.pause();
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (err.code === grpc.status.CANCELLED && !started) { finish(null); return; }
      const detailsBin = err.metadata?.get('grpc-status-details-bin')[0] as Buffer | undefined;
      const body = statusBody(err.code, err.details, detailsBin, u.root);
      if (!started) { finish(result(HTTP_STATUS_OF[err.code] ?? 500, [...JSON_TYPE, ...metadataHeaders(headerMd)], body)); return; }
      send(frame(`{"error":${body}}`, 'error'));
      port.postMessage({ type: 'end' } satisfies StreamEvent);
      finish(null);
    });
    call.on('end', () => {
      head();
      port.postMessage({ type: 'end' } satisfies StreamEvent);
      finish(null);
    });
  });
}

export default function run(task: TranscodeTask): Promise<TranscodeResult> {
  const u = upstream(task.upstream);
  const m = mapperOf(u, task);
  let request: Uint8Array;
  try {
    request = encodeRequest(m, new Map(task.vars), task.query, task.body ? new Uint8Array(task.body) : null);
  } catch (e) {
    if (e instanceof JsonMappingError) return Promise.resolve(result(400, JSON_TYPE, JSON.stringify({ code: 3, message: e.message, details: [] })));
    throw e;
  }
  const md = new grpc.Metadata();
  for (const [k, v] of task.metadata) md.add(k, v);
  const client = u.clients[u.next++ % u.clients.length]!;
  if (task.stream) return runStream(task, u, m, request, md, client);
  return new Promise((resolve) => {
    let headerMd: grpc.Metadata | null = null;
    const call = client.makeUnaryRequest(
      task.binding.grpcPath,
      (x: Buffer) => x,
      (x: Buffer) => x,
      Buffer.from(request.buffer, request.byteOffset, request.byteLength),
      md,
      { deadline: task.deadline },
      (err: grpc.ServiceError | null, res?: Buffer) => {
        if (err) {
          const http = HTTP_STATUS_OF[err.code] ?? 500;
          const detailsBin = err.metadata?.get('grpc-status-details-bin')[0] as Buffer | undefined;
          resolve(result(http, [...JSON_TYPE, ...metadataHeaders(headerMd)], statusBody(err.code, err.details, detailsBin, u.root)));
          return;
        }
        try {
          resolve(result(200, [...JSON_TYPE, ...metadataHeaders(headerMd)], decodeResponse(m, res!, task.emitDefaults)));
        } catch {
          resolve(result(502, JSON_TYPE, JSON.stringify({ code: 13, message: 'the upstream response does not decode as the declared message', details: [] })));
        }
      },
    );
    call.on('metadata', (h: grpc.Metadata) => { headerMd = h; });
  });
}
