// Where a route's request goes once every policy said 'continue': an HTTP upstream
// (src/proxy/http-target.ts), a gRPC service through transcoding
// (src/transcode/transcode-target.ts); aggregation and WebSocket targets take the same shape.
import type { RequestCtx } from './request-ctx.js';

export interface Target {
  /** 'http' | 'transcode' | ... (admin listing, logs) */
  readonly kind: string;
  /** Takes over the request: answers it (guarded by ctx), streaming the body if it wants it. */
  call(ctx: RequestCtx): void;
  /** The table that compiled this target retired and its requests are done: release pools. */
  close?(): Promise<void>;
  /** Shutdown: fail what still runs. */
  destroy?(err?: Error): Promise<void>;
}
