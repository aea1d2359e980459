// Whether a request asks for a WebSocket, and whether it is a handshake the gateway takes
// (RFC 6455 §4.2.1). Both engines ask this before they accept an upgrade (uWS 20.30 itself
// checks only the key's length), so a malformed handshake is never upgraded; a WebSocket
// route then answers it 400 — 426 with the version it speaks for another version — instead
// of treating it as a plain request. A plain route serves it as plain HTTP.

export interface HandshakeRefusal {
  status: 400 | 426;
  message: string;
  /** the request carries a body: its bytes would be read as the next request (answer and close) */
  framing: boolean;
}

/** 'none': the request does not ask for a WebSocket; 'valid': a handshake to accept. */
export type Handshake = 'none' | 'valid' | HandshakeRefusal;

const KEY = /^[+/0-9A-Za-z]{22}==$/;
/** RFC 7230 token: what a subprotocol name may be */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const refuse = (message: string, status: 400 | 426 = 400, framing = false): HandshakeRefusal => ({ status, message, framing });
const hasToken = (list: string, token: string) => list.split(',').some((t) => t.trim().toLowerCase() === token);

/** Why an Upgrade request with a body is refused: its bytes would be read as the next request. */
export const UPGRADE_WITH_BODY = 'an Upgrade request with a body is not supported';

/** Whether the headers say a body follows: a Content-Length other than 0, or any Transfer-Encoding. */
export function declaresBody(rawHeaders: readonly string[]): boolean {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    if ((name === 'content-length' && rawHeaders[i + 1]!.trim() !== '0') || name === 'transfer-encoding') return true;
  }
  return false;
}

/** `rawHeaders`: name/value pairs, names lower-case (as both engines give them). */
export function webSocketHandshake(method: string, rawHeaders: readonly string[]): Handshake {
  // the common case (no Upgrade header) scans once and allocates nothing
  let asks = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i] === 'upgrade' && hasToken(rawHeaders[i + 1]!, 'websocket')) { asks = true; break; }
  }
  if (!asks) return 'none';
  if (declaresBody(rawHeaders)) return refuse(UPGRADE_WITH_BODY, 400, true);
  let connectionUpgrade = false;
  const versions: string[] = [];
  const keys: string[] = [];
  const protocols: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    if (name === 'connection') connectionUpgrade ||= hasToken(value, 'upgrade');
    else if (name === 'sec-websocket-version') versions.push(value.trim());
    else if (name === 'sec-websocket-key') keys.push(value.trim());
    else if (name === 'sec-websocket-protocol') protocols.push(...value.split(',').map((p) => p.trim()));
  }
  if (method !== 'GET') return refuse('a WebSocket handshake is a GET request');
  if (!connectionUpgrade) return refuse('a WebSocket handshake needs Connection: Upgrade');
  if (versions.length !== 1 || versions[0] !== '13') return refuse('this gateway speaks WebSocket version 13 (Sec-WebSocket-Version: 13)', 426);
  if (keys.length !== 1 || !KEY.test(keys[0]!)) return refuse('missing or malformed Sec-WebSocket-Key (16 bytes in base64)');
  if (protocols.length) {
    if (!protocols.every((p) => TOKEN.test(p))) return refuse('a Sec-WebSocket-Protocol name is not a token');
    if (new Set(protocols).size !== protocols.length) return refuse('a subprotocol is offered twice');
  }
  return 'valid';
}

/** The headers of a 426 answer to a handshake for another WebSocket version. */
export const VERSION_HEADERS: readonly string[] = ['sec-websocket-version', '13'];
