// What both gRPC channels (the gateway's own HTTP/2 framing and node:http2) put on and read
// off a stream: request headers, length-prefixed messages, and the status an answer ends with.
import { compressMessage, decompressMessage, GRPC_ACCEPT_ENCODING, type GrpcEncoding } from './grpc-compression.js';

export interface GrpcStatus {
  code: number;
  details: string;
  /** response headers and trailers that are application metadata */
  metadata: Array<[string, string]>;
  detailsBin?: Buffer;
}

/** A header block as node:http2 hands it over: one value, or several for a repeated name. */
export type HeaderMap = Record<string, string | string[] | undefined>;

/** Transport headers: never application metadata. */
const RESERVED = new Set([':status', 'content-type', 'date', 'te', 'user-agent', 'grpc-status', 'grpc-message', 'grpc-encoding', 'grpc-accept-encoding', 'grpc-status-details-bin', 'content-length']);

export function metadataOf(h: HeaderMap): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(h)) {
    if (RESERVED.has(k) || k.startsWith(':') || v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push([k, x]);
    else out.push([k, String(v)]);
  }
  return out;
}

/**
 * Reconnect backoff of a channel's sessions: 100 ms doubling to 5 s, ±20 %, after each
 * connection that failed before the server's SETTINGS; calls in the meantime fail fast with
 * UNAVAILABLE (so they count for ejection and may be retried elsewhere).
 */
export class ReconnectBackoff {
  private failures = 0;
  private retryAt = 0;
  /** a new session may be opened now */
  get open(): boolean { return Date.now() >= this.retryAt; }
  failed(): void {
    this.failures++;
    this.retryAt = Date.now() + Math.min(100 * 2 ** (this.failures - 1), 5000) * (0.8 + 0.4 * Math.random());
  }
  connected(): void { this.failures = 0; this.retryAt = 0; }
}

/**
 * A keepalive PING every `everyMs` on a session; no answer within `timeoutMs` ends it (its
 * calls end UNAVAILABLE instead of waiting for their deadline).
 */
export function keepaliveTimer(everyMs: number, timeoutMs: number, session: { gone(): boolean; destroy(): void; ping(answered: (ok: boolean) => void): void }): NodeJS.Timeout {
  const timer = setInterval(() => {
    if (session.gone()) return;
    const deadline = setTimeout(() => session.destroy(), timeoutMs);
    deadline.unref();
    try {
      session.ping((ok) => { clearTimeout(deadline); if (!ok) session.destroy(); });
    } catch {
      clearTimeout(deadline);
      session.destroy();
    }
  }, everyMs);
  timer.unref();
  return timer;
}

/** A decoded header block's fields as a HeaderMap (a repeated name becomes a list). */
export function headerMapOf(fields: ReadonlyArray<readonly [string, string]>): HeaderMap {
  const h: HeaderMap = {};
  for (const [k, v] of fields) {
    const prev = h[k];
    h[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return h;
}

/** HTTP status of a non-gRPC answer → gRPC code (the gRPC HTTP/2 spec's table). */
export function codeOfHttp(status: number): number {
  return status === 400 ? 13 : status === 401 ? 16 : status === 403 ? 7 : status === 404 ? 12 : status === 429 || status === 502 || status === 503 || status === 504 ? 14 : 2;
}

function decodeMessage(v: string | string[] | undefined): string {
  const s = Array.isArray(v) ? v[0] ?? '' : v ?? '';
  try { return decodeURIComponent(s); } catch { return s; }
}

/** The status a trailers block (or a trailers-only answer) carries. */
export function statusOfTrailers(trailers: HeaderMap, headersMd: Array<[string, string]>): GrpcStatus {
  const bin = trailers['grpc-status-details-bin'];
  return {
    code: Number(trailers['grpc-status']),
    details: decodeMessage(trailers['grpc-message']),
    metadata: [...headersMd, ...metadataOf(trailers)],
    detailsBin: typeof bin === 'string' ? Buffer.from(bin, 'base64') : undefined,
  };
}

/** The request's headers, pseudo-headers first; the caller's metadata after the transport's. */
export function requestHeaders(path: string, authority: string, scheme: string, deadline: number, compression: GrpcEncoding | undefined, metadata: ReadonlyArray<readonly [string, string]>): Array<[string, string]> {
  const h: Array<[string, string]> = [
    [':method', 'POST'], [':scheme', scheme], [':authority', authority], [':path', path],
    ['content-type', 'application/grpc'], ['te', 'trailers'],
    ['grpc-timeout', `${Math.max(1, deadline - Date.now())}m`],
    ['grpc-accept-encoding', GRPC_ACCEPT_ENCODING],
  ];
  if (compression) h.push(['grpc-encoding', compression]);
  for (const [k, v] of metadata) h.push([k, v]);
  return h;
}

/**
 * A message with its 5-byte prefix: small ones framed in one buffer, a large one as the prefix
 * and its bytes (not copied behind it).
 */
export function framedMessage(message: Uint8Array, compression: GrpcEncoding | undefined): Uint8Array[] {
  const payload = compression ? compressMessage(compression, message) : message;
  const n = payload.byteLength;
  const prefix = Buffer.allocUnsafe(n < 16384 ? 5 + n : 5);
  prefix[0] = compression ? 1 : 0;
  prefix.writeUInt32BE(n, 1);
  if (n >= 16384) return [prefix, payload];
  prefix.set(payload, 5);
  return [prefix];
}

/**
 * Splits an answer's DATA into messages. Received bytes not yet a whole message are kept as a
 * list and joined once per message (joining on every chunk is quadratic in the message size).
 */
export class MessageReader {
  private parts: Buffer[] = [];
  private bytes = 0;
  /** the answer's grpc-encoding (what its compressed messages are compressed with) */
  encoding = 'identity';

  constructor(private readonly maxMessage: number) {}

  /** Feeds a chunk; `onMessage` answers false to stop. A status when the call must end (too large, bad compression). */
  push(chunk: Buffer, onMessage: (m: Buffer) => boolean): { code: number; details: string } | null {
    const parts = this.parts;
    parts.push(chunk);
    this.bytes += chunk.length;
    for (;;) {
      if (this.bytes < 5) return null;
      if (parts[0]!.length < 5) parts.splice(0, parts.length, Buffer.concat(parts, this.bytes));
      const head = parts[0]!;
      const len = head.readUInt32BE(1);
      const compressed = head[0] !== 0;
      if (len > this.maxMessage) return { code: 8, details: `the upstream response message is over ${this.maxMessage} bytes` };
      if (this.bytes < 5 + len) return null;
      const buf = parts.length === 1 ? head : Buffer.concat(parts, this.bytes);
      let message = buf.subarray(5, 5 + len);
      if (compressed) {
        // bounded by maxMessageBytes as it inflates: a small bomb cannot grow past the cap
        const out = decompressMessage(this.encoding, message, this.maxMessage);
        if (!out.ok) return { code: out.code, details: out.details };
        message = out.message;
      }
      const rest = buf.subarray(5 + len);
      parts.length = 0;
      this.bytes = rest.length;
      if (rest.length) parts.push(rest);
      if (!onMessage(message)) return null;
    }
  }
}
