// gRPC-Web framing (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md): the
// request body is length-prefixed messages as in gRPC; the answer is the messages, then a
// trailers frame (flag 0x80) holding `grpc-status`, `grpc-message` and the trailing metadata
// as lowercase "key: value\r\n" lines — also when there is no message at all, so a
// trailers-only error keeps its status. The -text variants are base64 of the same bytes,
// padded at any flush.
import type { GrpcStatus } from './grpc-h2-client.js';

export interface GrpcWebMode {
  /** application/grpc-web-text: base64 both ways */
  text: boolean;
  /** the content type answered: what the client sent (without parameters) */
  contentType: string;
}

/** The mode of a request Content-Type, or null when it is not gRPC-Web. */
export function grpcWebMode(contentType: string | undefined): GrpcWebMode | null {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/grpc-web' || type === 'application/grpc-web+proto') return { text: false, contentType: type };
  if (type === 'application/grpc-web-text' || type === 'application/grpc-web-text+proto') return { text: true, contentType: type };
  return null;
}

/** One frame: flag, 4-byte big-endian length, payload. */
export function frame(flag: number, payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(5 + payload.byteLength);
  b[0] = flag;
  b.writeUInt32BE(payload.byteLength, 1);
  b.set(payload, 5);
  return b;
}

/** grpc-message is percent-encoded (the gRPC spec): everything outside printable ASCII, and '%'. */
function percentEncode(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s)) out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** A header value that is safe on one trailer line (no CR/LF from an upstream's metadata). */
const lineSafe = (v: string) => v.replace(/[\r\n]/g, ' ');

/** The trailers frame for a call's status (`headerMetadata` went out as response headers already). */
export function trailersFrame(st: GrpcStatus, headerMetadata: ReadonlyArray<[string, string]> = []): Buffer {
  let text = `grpc-status: ${st.code}\r\n`;
  if (st.details) text += `grpc-message: ${percentEncode(st.details)}\r\n`;
  if (st.detailsBin?.byteLength) text += `grpc-status-details-bin: ${st.detailsBin.toString('base64').replace(/=+$/, '')}\r\n`;
  const sent = new Set(headerMetadata.map(([k, v]) => `${k}\n${v}`));
  for (const [k, v] of st.metadata) if (!sent.has(`${k}\n${v}`)) text += `${k.toLowerCase()}: ${lineSafe(v)}\r\n`;
  return frame(0x80, Buffer.from(text));
}

/** The response headers as a header-flagged frame (the grpc-websockets protocol sends them so, before the messages). */
export function headersFrame(contentType: string, md: ReadonlyArray<[string, string]>): Buffer {
  let text = `content-type: ${contentType}\r\n`;
  for (const [k, v] of md) if (k !== 'content-type') text += `${k.toLowerCase()}: ${lineSafe(v)}\r\n`;
  return frame(0x80, Buffer.from(text));
}

/** Bytes as the client's mode wants them on the wire (base64 for -text: each chunk padded on its own). */
export function onWire(mode: GrpcWebMode, bytes: Buffer): Buffer {
  return mode.text ? Buffer.from(bytes.toString('base64')) : bytes;
}

export type RequestMessage = { ok: true; message: Buffer } | { ok: false; status: GrpcStatus };

const bad = (code: number, details: string): RequestMessage => ({ ok: false, status: { code, details, metadata: [] } });

/** The base64 of a -text body, which may be padded at any flush ("AAA=AAA="). */
function decodeText(body: Buffer): Buffer | null {
  const s = body.toString('latin1').replace(/[\r\n\t ]/g, '');
  if (!/^[A-Za-z0-9+/=]*$/.test(s)) return null;
  const parts: Buffer[] = [];
  for (const chunk of s.match(/[^=]*={0,2}/g) ?? []) {
    if (!chunk) continue;
    if (chunk.replace(/=+$/, '').length % 4 === 1) return null;
    parts.push(Buffer.from(chunk, 'base64'));
  }
  return Buffer.concat(parts);
}

/**
 * The one request message of a unary or server-streaming call. Framing errors are gRPC
 * statuses (answered in a trailers frame, as grpc-js answers a broken frame: INTERNAL).
 */
export function requestMessage(mode: GrpcWebMode, body: Buffer, maxBytes: number): RequestMessage {
  const bytes = mode.text ? decodeText(body) : body;
  if (!bytes) return bad(13, 'the grpc-web-text body is not base64');
  const messages: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < 5) return bad(13, 'a truncated gRPC-Web frame header');
    const flag = bytes[at]!;
    const len = bytes.readUInt32BE(at + 1);
    if (len > maxBytes) return bad(8, `the request message is over ${maxBytes} bytes`);
    if (bytes.length - at - 5 < len) return bad(13, 'a truncated gRPC-Web message');
    if (flag & 0x80) return bad(13, 'a client sent a trailers frame');
    if (flag & 0x01) return bad(12, 'compressed gRPC-Web request messages are not supported (send grpc-encoding identity)');
    messages.push(bytes.subarray(at + 5, at + 5 + len));
    at += 5 + len;
  }
  if (messages.length !== 1) return bad(13, messages.length ? 'a unary or server-streaming call takes exactly one request message' : 'the request has no message');
  return { ok: true, message: messages[0]! };
}
