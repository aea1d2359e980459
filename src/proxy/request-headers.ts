// One pass over the request headers: reject what must not be forwarded (request smuggling
// vectors, oversized headers), pull out what the gateway needs, drop hop-by-hop headers.
// Engines may let these through (uWS 20.30 passes duplicate Content-Length,
// "Transfer-Encoding: gzip", 64 KB headers, control characters and UTF-8 in values), so
// the gateway checks them itself. Framing headers (Content-Length, Transfer-Encoding) are
// never forwarded: the upstream client writes the framing of the body it actually sends.
import { randomUUID } from 'node:crypto';
import { GatewayError } from '../errors.js';

export interface ScannedRequest {
  /** lower-cased host without port, "" when absent */
  host: string;
  hostHeader: string;
  /** -1 when absent */
  contentLength: number;
  chunked: boolean;
  requestId: string;
  xForwardedFor: string;
  /** Headers to forward (flat list); hop-by-hop and gateway-owned ones removed. */
  forward: string[];
}

export interface HeaderLimits { maxHeaderBytes: number; maxHeaderCount: number }

/** A header name is an RFC 9110 token (names arrive lower-cased). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
/** Field values: visible ASCII, space and tab. Control characters (CR, LF, NUL, ...) and
 * bytes >= 0x80 are refused: uWS hands the latter to JS as UTF-8, so they could not be
 * forwarded as sent, and obs-text is deprecated (RFC 9110 5.5). */
const BAD_VALUE = /[^\t\x20-\x7e]/;

/** Framing and routing headers a client may not have removed through Connection. */
const NOT_NOMINABLE = new Set(['content-length', 'transfer-encoding', 'host']);

/** Headers some application servers read as the real URL (IIS, Symfony, ...): a client could
 * reach a path the router never matched. Never forwarded. */
const URL_OVERRIDES = new Set(['x-original-url', 'x-rewrite-url', 'x-http-method-override', 'x-http-method', 'x-method-override']);

/** Removes, in place, the headers whose (lower-case) names are in `names` from a flat list. */
export function removeHeaders(flat: string[], names: ReadonlySet<string>): void {
  let w = 0;
  for (let r = 0; r < flat.length; r += 2) {
    if (names.has(flat[r]!)) continue;
    flat[w++] = flat[r]!;
    flat[w++] = flat[r + 1]!;
  }
  flat.length = w;
}

/** Headers that describe one connection, never forwarded (RFC 9110 7.6.1). */
export function isHopByHop(name: string): boolean {
  switch (name) {
    case 'connection': case 'keep-alive': case 'te': case 'trailer':
    case 'transfer-encoding': case 'upgrade': case 'proxy-connection':
      return true;
    default:
      return name.startsWith('proxy-');
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:+\/=-]{1,128}$/;

/** Tokens of a Connection header that name further hop-by-hop headers (requests and responses). */
export function connectionTokens(value: string): string[] {
  return value.toLowerCase().split(',').map((t) => t.trim()).filter((t) => t && t !== 'close' && t !== 'keep-alive');
}

/** `http10`: the request line said HTTP/1.0 (which has no Transfer-Encoding). */
export function scanRequestHeaders(raw: string[], limits: HeaderLimits, http10 = false): ScannedRequest | GatewayError {
  if (raw.length / 2 > limits.maxHeaderCount) {
    return new GatewayError('header_fields_too_large', `too many request headers (limit ${limits.maxHeaderCount})`);
  }
  let bytes = 0;
  let host = '', hostHeader = '', contentLength = -1, chunked = false, requestId = '', xff = '';
  let transferEncoding: string | null = null;
  let named: string[] | null = null;
  const forward: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!, value = raw[i + 1]!;
    bytes += name.length + value.length + 4;
    if (!TOKEN.test(name)) return new GatewayError('bad_request', 'invalid character in a header name');
    if (BAD_VALUE.test(value)) return new GatewayError('bad_request', `control character or non-ASCII byte in header "${name}"`);
    switch (name) {
      case 'host':
        if (hostHeader && hostHeader !== value) return new GatewayError('bad_request', 'more than one Host header');
        hostHeader = value;
        continue;
      case 'content-length': {
        if (!/^\d{1,15}$/.test(value)) return new GatewayError('bad_request', 'Content-Length is not a number');
        const n = Number(value);
        if (contentLength >= 0 && contentLength !== n) return new GatewayError('bad_request', 'conflicting Content-Length headers');
        contentLength = n;
        continue;
      }
      case 'transfer-encoding':
        transferEncoding = transferEncoding === null ? value : `${transferEncoding}, ${value}`;
        continue;
      case 'connection':
        (named ??= []).push(...connectionTokens(value));
        continue;
      case 'x-request-id':
        requestId = value;
        continue;
      case 'x-forwarded-for':
        xff = xff ? `${xff}, ${value}` : value;
        continue;
      case 'x-forwarded-proto': case 'x-forwarded-host':
        continue; // set by the gateway
    }
    if (isHopByHop(name) || URL_OVERRIDES.has(name)) continue;
    forward.push(name, value);
  }
  if (bytes > limits.maxHeaderBytes) {
    return new GatewayError('header_fields_too_large', `request headers exceed ${limits.maxHeaderBytes} bytes`);
  }
  if (transferEncoding !== null) {
    if (http10) return new GatewayError('bad_request', 'Transfer-Encoding is not allowed in an HTTP/1.0 request');
    if (transferEncoding.trim().toLowerCase() !== 'chunked') {
      return new GatewayError('bad_request', `unsupported Transfer-Encoding "${transferEncoding}" (only "chunked")`);
    }
    if (contentLength >= 0) return new GatewayError('bad_request', 'both Content-Length and Transfer-Encoding are present');
    chunked = true;
  }
  if (named) {
    for (const t of named) if (NOT_NOMINABLE.has(t)) return new GatewayError('bad_request', `Connection may not name "${t}"`);
    const drop = new Set(named);
    for (let i = forward.length - 2; i >= 0; i -= 2) if (drop.has(forward[i]!)) forward.splice(i, 2);
  }
  if (hostHeader) host = hostWithoutPort(hostHeader);
  return {
    host, hostHeader, contentLength, chunked,
    requestId: REQUEST_ID.test(requestId) ? requestId : randomUUID(),
    xForwardedFor: xff,
    forward,
  };
}

function hostWithoutPort(h: string): string {
  const lower = h.toLowerCase();
  if (lower.startsWith('[')) {
    const end = lower.indexOf(']');
    return end < 0 ? lower : lower.slice(0, end + 1);
  }
  const colon = lower.indexOf(':');
  return colon < 0 ? lower : lower.slice(0, colon);
}

/** Value of the first header with this (lower-case) name in a flat list. */
export function findHeader(flat: string[], name: string): string | undefined {
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) return flat[i + 1];
  return undefined;
}
