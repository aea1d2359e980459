// What the front-end thread sends a transcoding worker, and what comes back.
import type { ProtoSource } from './proto-registry.js';

/** grpcs:// targets: how the certificate is checked (as for https upstreams). */
export interface UpstreamTls { ca?: string; servername?: string; rejectUnauthorized: boolean }

/** One configuration of the pool (a "generation"): the gRPC upstreams its routes call and their bindings. */
export interface PoolData {
  /** targets: grpc://host:port or grpcs://host:port, each repeated `weight` times (weighted round-robin) */
  upstreams: Record<string, { protos: ProtoSource; baseDir: string; targets: string[]; tls?: UpstreamTls; compression?: 'gzip' | 'deflate'; bindings: TaskBinding[]; outlier: import('../config/types.js').OutlierConfig; breaker?: import('../config/types.js').BreakerConfig; http2?: import('./grpc-h2-client.js').H2Settings }>;
  /** the process's gRPC target state (grpc-target-state.ts) */
  grpcTargets: SharedArrayBuffer;
  /** a response message larger than this fails the call with RESOURCE_EXHAUSTED */
  maxMessageBytes: number;
  /** aggregate routes by name: how their backends' answers are composed (src/aggregate/compose.ts) */
  aggregates: Record<string, import('../aggregate/aggregate-task.js').AggregateSpec>;
}

/** workerData of the pool's workers. */
export interface WorkerSetup {
  /** the process-wide cancel flags (cancellation.ts) */
  cancelFlags: SharedArrayBuffer;
  /** the BroadcastChannel new generations arrive on */
  channel: string;
  /** generations configured before this worker started */
  generations: Array<[number, PoolData]>;
  /** the process's shared metrics (null: off) */
  metrics: import('../observability/observer.js').MetricsShare | null;
}

/** On the BroadcastChannel: host → workers, and workers' answers. */
export type PoolMessage =
  | { type: 'configure'; gen: number; data: PoolData }
  | { type: 'ack'; gen: number; worker: number; error?: string }
  | { type: 'hello'; worker: number };

export interface TaskBinding {
  grpcPath: string;
  httpMethod: string;
  /** template source, for the worker's cache key */
  template: string;
  requestType: string;
  responseType: string;
  body: string;
  responseBody: string;
  /** UNAVAILABLE is retried (GET/PUT/DELETE bindings, idempotency_level) */
  idempotent: boolean;
}

/** How a transcoded unary call is retried on another target (the route's retry block). */
export interface GrpcRetry {
  attempts: number;
  codes: number[];
  /** retry.grpcCodes was given: every method is retried on them, not only idempotent ones */
  allMethods: boolean;
  backoffMs: number;
  budgetPercent: number;
}

/** Server streaming: worker → front messages on the task's port. */
export type StreamEvent =
  | { type: 'head'; status: number; headers: string[] }
  | { type: 'data'; chunk: ArrayBuffer }
  | { type: 'end' }
  /** the stream failed after raw bytes were sent: cut the response (no in-band error fits) */
  | { type: 'abort' }
  /** a WebSocket bridge's call ended: close the client with this code */
  | { type: 'close'; code: number; reason: string };

/** front → worker: more messages may be sent (flow control), or the client went away. */
export type StreamControl = { type: 'credit'; n: number } | { type: 'cancel' };

export interface TranscodeTask {
  kind?: 'call';
  /** the pool configuration this call was routed with */
  gen: number;
  upstream: string;
  binding: TaskBinding;
  vars: Array<[string, string]>;
  query: string;
  body: ArrayBuffer | null;
  metadata: Array<[string, string]>;
  /** epoch ms: the route timeout counted from when the gateway got the request */
  deadline: number;
  emitDefaults: boolean;
  /** compress a JSON answer of at least minBytes, as the client's Accept-Encoding allows (pool calls only) */
  compress?: { minBytes: number; accept: string };
  /** the request's Content-Type (a body bound to google.api.HttpBody keeps it) */
  contentType?: string | null;
  /** response JSON: proto field names, enum numbers (the route's transcode options) */
  useProtoNames?: boolean;
  /** query parameters naming no field are skipped (transcode.ignoreUnknownQuery) */
  ignoreUnknownQuery?: boolean;
  enumsAsInts?: boolean;
  /** no call: map `body`, one message too large for the front thread (message-offload.ts) — a bridge's request JSON → protobuf or response protobuf → JSON, or an inline unary call's answer message → its HTTP answer */
  mapOnly?: 'encode' | 'decode' | 'answer';
  /** the route's retry block (absent: UNAVAILABLE retried once for idempotent methods) */
  retry?: GrpcRetry;
  /** unary calls: the sequence number the front thread writes to its cancel slot when the client leaves */
  cancelSeq?: number;
  /** client-streaming and bidi calls: the request body arrives on this port (upload-relay.ts), one JSON message a line */
  upload?: { port: import('node:worker_threads').MessagePort; maxLineBytes: number };
  /** gRPC-Web: `body` is the request message itself (no JSON), the answer gRPC-Web frames */
  grpcWeb?: import('./grpc-web.js').GrpcWebMode;
  /** the WebSocket bridge (socket-bridge.ts): request messages arrive on this port, one a message; answers go out on `stream` */
  socket?: { port: import('node:worker_threads').MessagePort; binary: boolean };
  /** server-streaming calls: events flow back on this port; `sse` picks the framing */
  stream?: { port: import('node:worker_threads').MessagePort; sse: boolean };
}

export interface TranscodeResult {
  status: number; headers: string[]; body: ArrayBuffer;
  /** the gRPC status, when a call was made */ grpcCode?: number;
  /** epoch ms (with fraction) when the thread running the call started it: the queue wait ends there */ startedAt?: number;
}

/** Everything the pool runs: transcoded calls, and an aggregate's compose and pick steps. */
export type PoolTask = TranscodeTask | import('../aggregate/aggregate-task.js').ComposeTask | import('../aggregate/aggregate-task.js').PickTask;
export type ResultOf<T extends PoolTask> = T extends import('../aggregate/aggregate-task.js').PickTask ? import('../aggregate/aggregate-task.js').PickResult : TranscodeResult;
