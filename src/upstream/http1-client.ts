// A lean HTTP/1.1 client for upstream calls: keep-alive connections per target, Node's own
// llhttp binding (the parser node:http uses) for responses, no per-request stream objects.
// Measured here against undici's Pool.dispatch in the same uWS front end: ~35% less CPU per
// small proxied request (docs/architecture.md). undici's legacy dispatch-handler shape is
// kept, so ProxyCall does not care which client runs it.
import { GatewayError } from '../errors.js';
import { upstreamClosed, upstreamFailure } from './upstream-errors.js';
import net from 'node:net';
import tls from 'node:tls';
import { createRequire } from 'node:module';
import { serverNameFor } from './sni.js';
import type { Readable } from 'node:stream';

const require = createRequire(import.meta.url);
// The HTTP parser binding node:http itself uses (llhttp, in C++).
const { HTTPParser } = require('_http_common') as { HTTPParser: HTTPParserCtor };

interface HTTPParserCtor {
  new (): HTTPParserInstance;
  RESPONSE: number;
  kOnHeaders: number; kOnHeadersComplete: number; kOnBody: number; kOnMessageComplete: number;
}
interface HTTPParserInstance {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error | undefined;
  close(): void;
  [key: number]: unknown;
}

export interface UpstreamHandler {
  onConnect(abort: (err: Error) => void): void;
  /** The exchange has an open connection (new or reused). */
  onConnected?(): void;
  /** rawHeaders: flat [name, value, ...] as sent. Return value ignored. */
  onHeaders(status: number, rawHeaders: string[], resume: () => void): boolean;
  /** false: pause until resume(). `chunk` is only valid during the call: copy it to keep it. */
  onData(chunk: Buffer): boolean;
  onComplete(): void;
  /** Always a GatewayError (src/upstream/upstream-errors.ts): its code says what failed, `retryable` whether to try again. */
  onError(err: GatewayError): void;
}

export interface UpstreamRequest {
  method: string;
  path: string;
  /** the Host header's value (written first) */
  host: string;
  /** flat [name, value, ...], lower-case names; no Host and no framing headers (the client writes those).
   * Not changed while the exchange is queued or retried: it is read when the head is written. */
  headers: string[];
  /** a stream, or a whole body already read (replayable: retries may send it again) */
  body: Readable | Buffer | null;
  /** with a body: its length, or -1 to send it chunked; without one: >= 0 sends that Content-Length (0), -1 none */
  contentLength: number;
}

/** For https targets. */
export interface ClientTls {
  ca?: string;
  /** false only with an explicit insecureSkipVerify */
  rejectUnauthorized: boolean;
  /** SNI and the name the certificate must carry (default: the target's host name) */
  servername?: string;
}

export interface ClientOptions {
  connections: number;
  /** exchanges waiting for a connection beyond this fail at once (upstream_saturated) */
  maxQueue?: number;
  keepAliveTimeoutMs: number;
  connectTimeoutMs: number;
  tls?: ClientTls;
}


// 256 KB: a 64 KB answer and its head arrive in one read (with 64 KB, every such answer
// took two reads, two parser runs and two sends to the client).
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

export const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** What must never reach an upstream head: CR, LF, NUL and other controls (header injection),
 * and anything above 0xFF (written as latin1 it would turn into another byte: U+010D is CR). */
const UNSAFE_IN_HEAD = /[\x00-\x08\x0a-\x1f\x7f\u0100-\uffff]/;
const UNSAFE_IN_TARGET = /[^\x21-\x7e]/;

/** Builds the request head, or null when a part of it is unsafe to write (defence in depth:
 * the front end already refused such requests; this also covers values the gateway made, such
 * as JWT claims copied into headers). The framing headers are the client's own. */
export function requestHead(req: UpstreamRequest): string | null {
  if (UNSAFE_IN_TARGET.test(req.path) || UNSAFE_IN_TARGET.test(req.method) || UNSAFE_IN_TARGET.test(req.host)) return null;
  const h = req.headers;
  let head = `${req.method} ${req.path} HTTP/1.1\r\nhost: ${req.host}\r\n`;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!, value = h[i + 1]!;
    if (name === 'content-length' || name === 'transfer-encoding' || name === 'host') continue;
    if (UNSAFE_IN_HEAD.test(value) || name === '' || UNSAFE_IN_TARGET.test(name) || name.includes(':')) return null;
    head += `${name}: ${value}\r\n`;
  }
  if (req.body && req.contentLength < 0) head += 'transfer-encoding: chunked\r\n';
  else if (req.contentLength >= 0) head += `content-length: ${req.body || req.contentLength > 0 ? req.contentLength : 0}\r\n`;
  return head + '\r\n';
}

/** One request/response exchange on a connection. */
class Exchange {
  conn: Connection | null = null;
  informational = false;
  responseStarted = false;
  /** bytes of the response seen (a reused socket that fails before any is retried) */
  gotBytes = false;
  done = false;
  retried = false;
  /** the whole request body was written (a connection is reusable only then) */
  bodySent = false;
  headerAcc: string[] | null = null;
  constructor(readonly pool: Http1Pool, readonly req: UpstreamRequest, readonly handler: UpstreamHandler) {}
}

class Connection {
  readonly socket: net.Socket;
  readonly parser: HTTPParserInstance;
  ex: Exchange | null = null;
  reused = false;
  keepAlive = true;
  closed = false;

  constructor(readonly pool: Http1Pool) {
    const { url } = pool;
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const onBytes = (d: Buffer) => {
      if (this.closed) return;
      if (this.ex) this.ex.gotBytes = true;
      let r: number | Error;
      try {
        r = this.parser.execute(d);
      } catch (e) {
        // A handler (onHeaders, onData, onComplete) threw inside the parser: this exchange
        // fails (the connection is not reused); the socket callback must not throw.
        this.fail(new GatewayError('internal_error', 'internal error', { cause: e }));
        return;
      }
      if (r instanceof Error) this.fail(new GatewayError('upstream_bad_response', 'upstream sent an invalid response', { cause: r }));
    };
    if (url.protocol === 'https:') {
      const o = pool.options.tls;
      const servername = serverNameFor(host, o?.servername);
      this.socket = tls.connect({ host, port, servername, ca: o?.ca, rejectUnauthorized: o?.rejectUnauthorized ?? true });
      this.socket.on('data', onBytes);
    } else {
      // Plain sockets read into one shared buffer instead of a new Buffer per read (the
      // GC was 15% of a 64 KB proxy profile). Body chunks are views of it: handlers must
      // use or copy them before returning (both sinks do).
      this.socket = net.connect({ host, port, onread: { buffer: READ_BUFFER, callback: (n) => { onBytes(READ_BUFFER.subarray(0, n)); return true; } } });
    }
    this.socket.setNoDelay(true);
    const connectTimer = setTimeout(() => this.fail(new GatewayError('upstream_connect_timeout', 'upstream connection was not established in time')), pool.options.connectTimeoutMs);
    this.socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
    this.socket.once('close', () => clearTimeout(connectTimer));

    const parser = (this.parser = new HTTPParser());
    parser.initialize(HTTPParser.RESPONSE, {}, 0, 0);
    parser[HTTPParser.kOnHeaders] = (headers: string[]) => {
      const ex = this.ex;
      if (ex) (ex.headerAcc ??= []).push(...headers);
    };
    parser[HTTPParser.kOnHeadersComplete] = (_maj: number, _min: number, headers: string[] | undefined, _m: unknown, _u: unknown, status: number, _sm: string, _upgrade: boolean, keepAlive: boolean) => {
      const ex = this.ex;
      if (!ex) return 0;
      const raw = ex.headerAcc ? (headers ? ex.headerAcc.concat(headers) : ex.headerAcc) : headers ?? [];
      ex.headerAcc = null;
      if (status < 200) { ex.informational = true; return 0; }
      this.keepAlive = keepAlive;
      ex.responseStarted = true;
      // A resume from an earlier exchange's late drain must not unpause this one.
      ex.handler.onHeaders(status, raw, () => { if (this.ex === ex) this.socket.resume(); });
      return ex.req.method === 'HEAD' ? 1 : 0; // 1: this response has no body
    };
    parser[HTTPParser.kOnBody] = (chunk: Buffer) => {
      const ex = this.ex;
      if (ex && !ex.handler.onData(chunk)) this.socket.pause();
    };
    parser[HTTPParser.kOnMessageComplete] = () => {
      const ex = this.ex;
      if (!ex) return;
      if (ex.informational) { ex.informational = false; return; }
      this.ex = null;
      ex.done = true;
      // The upstream answered before the request body was all written: the rest of the body
      // would be read as the next request on this connection. It is never reused.
      if (!ex.bodySent) this.keepAlive = false;
      ex.handler.onComplete();
      this.pool.release(this);
    };

    this.socket.on('end', () => {
      if (this.closed) return;
      // A response delimited by the connection closing ends here.
      const r = this.parser.finish();
      if (r instanceof Error) this.fail(new GatewayError('upstream_bad_response', 'upstream sent an invalid response', { cause: r }));
      else this.fail(upstreamClosed());
    });
    if (url.protocol === 'https:') {
      // Errors after TCP connected and before the handshake finished are TLS failures (untrusted
      // certificate, wrong name, protocol): not retried as connect failures.
      let tcp = false, secure = false;
      this.socket.once('connect', () => { tcp = true; });
      this.socket.once('secureConnect', () => { secure = true; });
      this.socket.on('error', (err: NodeJS.ErrnoException) => this.fail(tcp && !secure ? new GatewayError('upstream_tls', 'upstream TLS handshake failed', { cause: err }) : err));
    } else {
      this.socket.on('error', (err) => this.fail(err));
    }
    this.socket.on('close', () => this.fail(upstreamClosed()));
    this.socket.on('timeout', () => { if (!this.ex) this.destroy(); }); // idle keep-alive expiry
  }

  /** The connection is unusable: fail its exchange (or retry it) and forget it. */
  fail(cause: Error): void {
    if (this.closed) return;
    const err = upstreamFailure(cause);
    this.markClosed();
    const ex = this.ex;
    this.ex = null;
    if (!ex || ex.done) return;
    // A reused keep-alive socket the upstream had already closed: nothing was processed,
    // so a bodyless request is safe to send again once, on a fresh connection.
    if (this.reused && !ex.gotBytes && !ex.retried && (ex.req.body === null || Buffer.isBuffer(ex.req.body)) && IDEMPOTENT.has(ex.req.method)) {
      ex.retried = true;
      ex.conn = null;
      this.pool.enqueueFront(ex);
      return;
    }
    ex.done = true;
    ex.handler.onError(err);
  }

  destroy(): void {
    if (this.closed) return;
    this.markClosed();
  }

  private markClosed(): void {
    this.closed = true;
    this.socket.destroy();
    // Never free the native parser from inside one of its own callbacks (use after free):
    // wait until the current execute() has returned. Nothing touches it once closed.
    queueMicrotask(() => this.parser.close());
    this.pool.forget(this);
  }

  start(ex: Exchange): void {
    this.ex = ex;
    ex.conn = this;
    this.socket.setTimeout(0);
    this.socket.resume(); // the previous exchange may have ended while paused for backpressure
    if (ex.handler.onConnected) {
      if (this.socket.connecting) this.socket.once(this.pool.url.protocol === 'https:' ? 'secureConnect' : 'connect', () => { if (this.ex === ex) ex.handler.onConnected!(); });
      else ex.handler.onConnected();
    }
    const { req } = ex;
    const head = requestHead(req);
    if (head === null) {
      this.fail(new GatewayError('internal_error', 'the upstream request would carry an invalid header'));
      return;
    }
    if (Buffer.isBuffer(req.body) || req.body === null) ex.bodySent = true;
    if (Buffer.isBuffer(req.body)) {
      this.socket.cork();
      this.socket.write(head, 'latin1');
      this.socket.write(req.body);
      this.socket.uncork();
      return;
    }
    this.socket.write(head, 'latin1');
    if (req.body) this.sendBody(req.body, req.contentLength < 0, ex);
  }

  private sendBody(body: Readable, chunked: boolean, ex: Exchange): void {
    const socket = this.socket;
    const onDrain = () => body.resume();
    socket.on('drain', onDrain);
    const cleanup = () => { socket.off('drain', onDrain); };
    body.on('data', (c: Buffer) => {
      if (this.ex !== ex) return;
      if (chunked) {
        socket.cork();
        socket.write(`${c.length.toString(16)}\r\n`, 'latin1');
        socket.write(c);
        socket.write('\r\n', 'latin1');
        socket.uncork();
      } else socket.write(c);
      if (socket.writableNeedDrain) body.pause();
    });
    body.once('end', () => {
      cleanup();
      ex.bodySent = true;
      if (chunked && this.ex === ex) socket.write('0\r\n\r\n', 'latin1');
    });
    body.once('error', (err) => {
      cleanup();
      if (this.ex !== ex) return;
      this.fail(err);
    });
  }
}

export class Http1Pool {
  readonly url: URL;
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly queue: Exchange[] = [];
  private closing: (() => void) | null = null;
  private closedErr: GatewayError | null = null;

  constructor(origin: string, readonly options: ClientOptions) {
    this.url = new URL(origin);
  }

  /** In-flight exchanges on this target's connections. */
  get active(): number { return this.all.size - this.idle.length; }

  dispatch(req: UpstreamRequest, handler: UpstreamHandler): void {
    const ex = new Exchange(this, req, handler);
    handler.onConnect((err) => this.abort(ex, err));
    if (ex.done) return;
    if (this.closedErr) { ex.done = true; handler.onError(this.closedErr); return; }
    this.assign(ex);
  }

  private assign(ex: Exchange): void {
    let conn = this.idle.pop();
    if (conn) conn.reused = true;
    else if (this.all.size < this.options.connections) {
      conn = new Connection(this);
      this.all.add(conn);
    } else {
      if (this.queue.length >= (this.options.maxQueue ?? Infinity)) {
        ex.done = true;
        ex.handler.onError(new GatewayError('upstream_saturated', 'upstream is saturated (connection queue full); try again'));
        return;
      }
      this.queue.push(ex);
      return;
    }
    conn.start(ex);
  }

  enqueueFront(ex: Exchange): void {
    if (this.closedErr) { ex.done = true; ex.handler.onError(this.closedErr); return; }
    this.assign(ex);
  }

  private abort(ex: Exchange, cause: Error): void {
    if (ex.done) return;
    const err = upstreamFailure(cause);
    if (ex.conn) {
      // Mid-exchange: the connection cannot be reused.
      const conn = ex.conn;
      conn.ex = null;
      ex.done = true;
      conn.destroy();
      ex.handler.onError(err);
      this.pump();
      return;
    }
    const i = this.queue.indexOf(ex);
    if (i >= 0) this.queue.splice(i, 1);
    ex.done = true;
    ex.handler.onError(err);
  }

  /** A connection finished its exchange. */
  release(conn: Connection): void {
    if (conn.closed) return;
    if (!conn.keepAlive || this.closing) { conn.destroy(); this.pump(); this.checkClosed(); return; }
    const next = this.queue.shift();
    if (next) { conn.reused = true; conn.start(next); return; }
    conn.socket.setTimeout(this.options.keepAliveTimeoutMs);
    this.idle.push(conn);
    this.checkClosed();
  }

  forget(conn: Connection): void {
    this.all.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    this.pump();
    this.checkClosed();
  }

  private pump(): void {
    while (this.queue.length && (this.idle.length || this.all.size < this.options.connections)) this.assign(this.queue.shift()!);
  }

  private checkClosed(): void {
    if (this.closing && this.active === 0 && this.queue.length === 0) {
      for (const c of [...this.idle]) c.destroy();
      const done = this.closing;
      this.closing = null;
      done();
    }
  }

  /** Finish queued and running exchanges, then close every connection. */
  close(): Promise<void> {
    this.closedErr ??= new GatewayError('service_unavailable', 'upstream pool is closed');
    return new Promise((resolve) => { this.closing = resolve; this.checkClosed(); });
  }

  /** Fail everything still running with `err`, close every connection. */
  async destroy(err?: Error): Promise<void> {
    const reason = err ? upstreamFailure(err) : new GatewayError('service_unavailable', 'upstream pool destroyed');
    this.closedErr = reason;
    for (const ex of this.queue.splice(0)) { ex.done = true; ex.handler.onError(reason); }
    for (const conn of [...this.all]) {
      const ex = conn.ex;
      conn.ex = null;
      conn.destroy();
      if (ex && !ex.done) { ex.done = true; ex.handler.onError(reason); }
    }
  }
}
