// The small request/response shape both front ends (uws, node:http) implement, so the
// gateway core is written once and the same e2e suite runs against both.

/** What a front end reads from the request line and headers. */
export interface RequestHead {
  /** Method as sent (upper case for well-formed requests). */
  method: string;
  /** Path without the query string, as sent (not decoded). */
  path: string;
  /** Raw query string without "?", or "". */
  query: string;
  /** Flat [name, value, name, value, ...], names lower-cased, in arrival order. */
  rawHeaders: string[];
  remoteAddress: string;
  /** "http" or "https": how the client reached us. */
  scheme: string;
  /** The request line said HTTP/1.0 (the uws build never delivers those: always false there). */
  http10: boolean;
}

/** The request body as the front end delivers it, with flow control. Every member is a
 * no-op once the exchange is over (uWS aborts the process on a finished response). */
export interface BodySource {
  /** chunk is only valid during the call; copy it to keep it. */
  onData(cb: (chunk: Uint8Array, last: boolean) => void): void;
  pause(): void;
  resume(): void;
}

/** The response side. Calls after the response finished or was aborted are ignored. */
export interface ResponseSink {
  readonly aborted: boolean;
  /** A response was started (or sent whole): nothing else may answer this request. */
  readonly responded: boolean;
  /** the status sent (0 until a response started) */
  readonly status: number;
  /** request body bytes received, response body bytes handed to the socket (for metrics and logs) */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Adds a callback run once when the client goes away before the response ended (every
   * callback added runs, in order: the body reader, the upstream call, ... each clean up). */
  onAborted(cb: () => void): void;
  /** Sets the callback run exactly once when the exchange is over: the response was handed
   * to the socket whole, or the client went away (in-flight accounting hangs off this). */
  onFinished(cb: () => void): void;
  /**
   * Answer in one go; `headers` must not contain content-length. `close`: close the
   * connection after it (a request body the gateway did not read); 'framing': the request
   * could not be delimited, so nothing after it on this connection may run either.
   */
  sendFull(status: number, headers: string[], body: string | Uint8Array, close?: boolean | 'framing'): void;
  /**
   * Start a streamed response. contentLength < 0 means unknown (chunked).
   * `headless` (HEAD, 204, 304) sends no body; contentLength is only reported.
   */
  start(status: number, headers: string[], contentLength: number, headless: boolean): void;
  /**
   * Returns false when the client is slow: wait for onDrain before writing more.
   * `chunk` may be reused by the caller after the call: a sink that keeps it copies it.
   */
  write(chunk: Uint8Array): boolean;
  onDrain(cb: () => void): void;
  end(): void;
  /** Cut the connection (e.g. the upstream died mid-body: the client must see it). */
  destroy(): void;
  /** Present when the request is a WebSocket upgrade the engine can accept (src/websocket/). */
  readonly upgrade?: WebSocketUpgrade;
}

/** What a client WebSocket tells its owner. `data` is only valid during the call. */
export interface ClientSocketEvents {
  message(data: Uint8Array, binary: boolean): void;
  /** the send buffer drained (after a send returned false) */
  drain(): void;
  pong(): void;
  /** once; 1005: the client sent no code, 1006: the connection dropped without a close frame */
  close(code: number, reason: string): void;
}

/** An accepted client WebSocket (both engines). Every member is a no-op once it closed. */
export interface ClientSocket {
  /** false: the bytes are queued beyond the engine's buffer; wait for `drain` */
  /** a string is sent as a text message (the bridge's JSON answers, posted to the front as strings) */
  send(data: Uint8Array | string, binary: boolean): boolean;
  bufferedAmount(): number;
  /** stop / restart reading the client's frames (null: the engine cannot, see docs/websocket.md) */
  readonly pause: (() => void) | null;
  readonly resume: (() => void) | null;
  ping(): void;
  close(code: number, reason: string): void;
  /** drop the connection without a close frame */
  terminate(): void;
}

/** The accept side of an upgrade request. */
export interface WebSocketUpgrade {
  /** the client's Sec-WebSocket-Protocol offers, in order */
  readonly protocols: readonly string[];
  /** 101 with `protocol` (null: none) and, when `compress`, permessage-deflate if the client offered it.
   * Returns null when the client left before the upgrade. */
  accept(protocol: string | null, compress: boolean, events: ClientSocketEvents): ClientSocket | null;
}

export type RequestHandler = (head: RequestHead, body: BodySource | null, sink: ResponseSink) => void;

export interface EngineOptions {
  host: string;
  port: number;
  maxHeaderBytes: number;
  headersTimeoutMs: number;
  /** the request line's target; longer is a 414 */
  maxUriBytes: number;
  /** node: open connections; uws (which reports no connection events): requests in progress */
  maxConnections: number;
  /** node only (uWS has a fixed 10 s): an idle keep-alive connection is closed after this */
  idleTimeoutMs: number;
  /** node only: the whole request (head and body) must arrive within this (0: no limit) */
  requestTimeoutMs: number;
  /** TLS termination: the first certificate is the default, the others are chosen by SNI. */
  tls?: {
    certs: Array<{ cert: string; key: string; passphrase?: string; serverNames: string[] }>;
    /** OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are all AEAD) */
    ciphers: string;
    minVersion: 'TLSv1.2' | 'TLSv1.3';
  };
}

export interface Engine {
  readonly name: 'uws' | 'node';
  listen(): Promise<number>;
  /** Stop accepting new connections; existing ones may finish. */
  stopListening(): void;
  /** Close every remaining connection. */
  closeAll(): void;
  /** open client connections, when the engine sees them (node; uWS 20.30 reports none: null) */
  openConnections(): number | null;
  /** Close every open client WebSocket with `code` (1001 at shutdown). */
  closeWebSockets(code: number, reason: string): void;
  /** client WebSockets open now */
  openWebSockets(): number;
}

/** The largest WebSocket message either engine accepts (a route's maxMessageBytes is at most this). */
export const MAX_WEBSOCKET_MESSAGE_BYTES = 16 * 1024 * 1024;

/** The subprotocol names a request offers: its Sec-WebSocket-Protocol values ("a, b"), in
 * order, from a RequestHead's rawHeaders (lower-cased names). */
export function offeredProtocols(rawHeaders: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i] !== 'sec-websocket-protocol') continue;
    for (const p of rawHeaders[i + 1]!.split(',')) { const t = p.trim(); if (t) out.push(t); }
  }
  return out;
}
