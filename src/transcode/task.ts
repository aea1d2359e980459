// What the front-end thread sends a transcoding worker, and what comes back.
import type { ProtoSource } from './proto-registry.js';

/** workerData of a transcoding pool: the gRPC upstreams it may call. */
export interface PoolData {
  upstreams: Record<string, { protos: ProtoSource; baseDir: string; targets: string[] }>;
}

export interface TaskBinding {
  grpcPath: string;
  httpMethod: string;
  /** template source, for the worker's cache key */
  template: string;
  requestType: string;
  responseType: string;
  body: string;
  responseBody: string;
}

export interface TranscodeTask {
  upstream: string;
  binding: TaskBinding;
  vars: Array<[string, string]>;
  query: string;
  body: ArrayBuffer | null;
  metadata: Array<[string, string]>;
  timeoutMs: number;
  emitDefaults: boolean;
}

export interface TranscodeResult { status: number; headers: string[]; body: ArrayBuffer }
