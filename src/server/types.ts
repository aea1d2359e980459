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
}

/** The request body as the front end delivers it, with flow control. */
export interface BodySource {
  /** chunk is only valid during the call; copy it to keep it. */
  onData(cb: (chunk: Uint8Array, last: boolean) => void): void;
  pause(): void;
  resume(): void;
}

/** The response side. Calls after `aborted` became true are ignored. */
export interface ResponseSink {
  readonly aborted: boolean;
  /** Called once when the client goes away before the response ended. */
  onAborted(cb: () => void): void;
  /** Answer in one go; `headers` must not contain content-length. */
  sendFull(status: number, headers: string[], body: string | Uint8Array): void;
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
}

export type RequestHandler = (head: RequestHead, body: BodySource | null, sink: ResponseSink) => void;

export interface EngineOptions {
  host: string;
  port: number;
  maxHeaderBytes: number;
  headersTimeoutMs: number;
  /** TLS termination: the first certificate is the default, the others are chosen by SNI. */
  tls?: { certs: Array<{ cert: string; key: string; passphrase?: string; serverNames: string[] }> };
}

export interface Engine {
  readonly name: 'uws' | 'node';
  listen(): Promise<number>;
  /** Stop accepting new connections; existing ones may finish. */
  stopListening(): void;
  /** Close every remaining connection. */
  closeAll(): void;
}
