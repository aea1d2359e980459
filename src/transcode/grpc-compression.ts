// gRPC message compression (grpc-encoding) between the gateway and gRPC upstreams: gzip and
// deflate both ways. A compressed message is inflated with maxMessageBytes as the output
// limit, so a few KB that inflate to gigabytes fail the call (RESOURCE_EXHAUSTED) instead of
// the worker's memory.
import zlib from 'node:zlib';

export type GrpcEncoding = 'gzip' | 'deflate';
/** What the gateway announces it can read (identity is always implied). */
export const GRPC_ACCEPT_ENCODING = 'gzip, deflate';

export function compressMessage(encoding: GrpcEncoding, message: Uint8Array): Buffer {
  return encoding === 'gzip' ? zlib.gzipSync(message) : zlib.deflateSync(message);
}

export type Decompressed = { ok: true; message: Buffer } | { ok: false; code: number; details: string };

/** A message with the compressed flag set, under the answer's `grpc-encoding`. */
export function decompressMessage(encoding: string, data: Uint8Array, maxBytes: number): Decompressed {
  // The gRPC spec: a compressed flag under identity (or no grpc-encoding) is a protocol error.
  if (encoding !== 'gzip' && encoding !== 'deflate') return { ok: false, code: 13, details: `the upstream sent a message compressed with "${encoding}", which the gateway did not offer` };
  try {
    const opts = { maxOutputLength: maxBytes };
    return { ok: true, message: encoding === 'gzip' ? zlib.gunzipSync(data, opts) : zlib.inflateSync(data, opts) };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) return { ok: false, code: 8, details: `the upstream response message is over ${maxBytes} bytes once decompressed` };
    return { ok: false, code: 13, details: `the upstream sent a ${encoding} message that does not decompress` };
  }
}
