// The uWebSockets.js front end. Rules it follows (uWS manual): onAborted is attached before
// returning from the handler; every write from a callback is corked; nothing is written after
// an abort; bodies are read through onData with pause/resume; known-length responses stream
// with tryEnd + onWritable, unknown-length ones with write (chunked) + onWritable.
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, us_socket_context_t, WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import { loadNativeUws, type Uws } from './uws-loader.js';
import { statusLine } from './status-line.js';
import { webSocketHandshake } from './websocket-handshake.js';
import { MAX_WEBSOCKET_MESSAGE_BYTES, offeredProtocols, type BodySource, type ClientSocket, type ClientSocketEvents, type Engine, type EngineOptions, type RequestHandler, type RequestHead, type ResponseSink, type WebSocketUpgrade } from './types.js';
import { guarded } from './guard.js';
import { ERRORS, errorBody } from '../errors.js';

/**
 * uWS 20.30 parses every request already in a connection's buffer, even after a handler
 * answered with end(body, closeConnection): the bytes after a framing error would run as
 * the next request. It tells JS nothing that identifies a connection, so a request from the
 * address that just got a framing error, in the same event-loop turn (the rest of that
 * buffer is parsed before the loop moves on), is taken for such bytes and refused unseen.
 * A request of another client behind the same address in that same turn is refused too
 * (its connection is closed; a client retries): the price of never running those bytes.
 */
let framingRefusedFrom: string | null = null;
const forgetFramingRefusal = () => { framingRefusedFrom = null; };

class UwsExchange implements BodySource, ResponseSink {
  aborted = false;
  /** the response was ended (fully written, or handed to tryEnd/onWritable) */
  private finished = false;
  responded = false;
  status = 0;
  bytesIn = 0;
  bytesOut = 0;
  private abortCbs: Array<() => void> | null = null;
  private finishedCb: (() => void) | null = null;
  private drainCb: (() => void) | null = null;
  private headers: string[] = [];
  private total = -1;
  private headWritten = false;
  /** Chunk tryEnd could not fully write, and the write offset it started at. */
  private pending: Uint8Array | null = null;
  private pendingOffset = 0;
  private writableHooked = false;
  // uWS 20.30 drops the connection when resume() is called on a socket that is not
  // paused, so the paused state is tracked here.
  private paused = false;
  /** the request body's last chunk arrived: nothing left to throttle, pausing would stall the connection */
  private bodyDone = false;

  /** Intrusive list of unfinished exchanges (for closeAll). A Set here made every scavenge
   * slow (old table → young entries): p99 went from ~5 ms to ~13 ms under load. */
  prev: UwsExchange | null = null;
  next: UwsExchange | null = null;

  /** set for WebSocket upgrade requests (the ws route's upgrade handler) */
  upgrade?: WebSocketUpgrade;

  constructor(private readonly res: HttpResponse, private readonly live: LiveList) {
    live.add(this);
  }

  /** Over: uWS forbids touching `res` after end or abort (it aborts the process). */
  private get over(): boolean { return this.aborted || this.finished; }

  /** Bytes behind a framing error, parsed as a request: never handled; answered 400 and closed
   * (closing at once would drop the answer to the framing error, still in the cork buffer). */
  refusePipelined(): void {
    this.sendFull(ERRORS.bad_request.status, ['content-type', 'application/json'], errorBody('bad_request', 'bytes after a framing error on this connection', '-'), true);
  }

  handleAbort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.live.remove(this);
    const cbs = this.abortCbs;
    this.abortCbs = null;
    if (!this.finished && cbs) for (const cb of cbs) cb();
    this.runFinished();
  }

  /** Runs the finished callback once, whichever way the exchange ended. */
  private runFinished(): void {
    const cb = this.finishedCb;
    this.finishedCb = null;
    cb?.();
  }

  onAborted(cb: () => void): void { (this.abortCbs ??= []).push(cb); }
  onFinished(cb: () => void): void { this.finishedCb = cb; }

  onData(cb: (chunk: Uint8Array, last: boolean) => void): void {
    if (this.over) return;
    this.res.onData((ab, last) => {
      this.bytesIn += ab.byteLength;
      if (last) {
        // uWS pauses the socket, not the request: a body that ended while paused (uWS still
        // delivers what it had read) left the keep-alive connection unread, and the next
        // request on it hung until uWS's timeout (reproduced on a bare uWS 20.30 server).
        this.bodyDone = true;
        if (this.paused && !this.over) { this.paused = false; this.res.resume(); }
      }
      if (!this.over) cb(new Uint8Array(ab), last);
    });
  }
  pause(): void {
    if (this.over || this.paused || this.bodyDone) return;
    this.paused = true;
    this.res.pause();
  }
  resume(): void {
    if (this.over || !this.paused) return;
    this.paused = false;
    this.res.resume();
  }

  private writeHead(): void {
    const res = this.res, h = this.headers;
    res.writeStatus(statusLine(this.status));
    for (let i = 0; i < h.length; i += 2) res.writeHeader(h[i]!, h[i + 1]!);
    this.headWritten = true;
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.live.remove(this);
    this.runFinished();
  }

  sendFull(status: number, headers: string[], body: string | Uint8Array, close: boolean | 'framing' = false): void {
    if (this.over || this.responded) return;
    this.responded = true;
    this.status = status;
    this.headers = headers;
    this.bytesOut = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    this.finish();
    // end(body, true) writes "Connection: close" and closes once the answer is out.
    if (close === 'framing') {
      if (framingRefusedFrom === null) setImmediate(forgetFramingRefusal);
      framingRefusedFrom = Buffer.from(this.res.getRemoteAddress()).toString('latin1');
    }
    this.res.cork(() => { this.writeHead(); this.res.end(body, close !== false); });
  }

  start(status: number, headers: string[], contentLength: number, headless: boolean): void {
    if (this.over || this.responded) return;
    this.responded = true;
    this.status = status;
    this.headers = headers;
    this.total = contentLength;
    if (headless) {
      this.finish();
      this.res.cork(() => {
        this.writeHead();
        if (contentLength >= 0) this.res.endWithoutBody(contentLength);
        else this.res.endWithoutBody();
      });
    }
  }

  write(chunk: Uint8Array): boolean {
    if (this.over || !this.responded) return true;
    if (chunk.byteLength === 0) return true;
    this.bytesOut += chunk.byteLength;
    let ok = true;
    const res = this.res;
    res.cork(() => {
      if (!this.headWritten) this.writeHead();
      if (this.total >= 0) {
        const offset = res.getWriteOffset();
        const [sent, done] = res.tryEnd(chunk, this.total);
        if (done) this.finish();
        else if (!sent) {
          this.pending = Buffer.from(chunk); // the caller's chunk is only valid during this call
          this.pendingOffset = offset;
          ok = false;
        }
      } else {
        ok = res.write(chunk); // false: buffered by uWS, wait for writable
      }
    });
    if (!ok) this.hookWritable();
    return ok;
  }

  private hookWritable(): void {
    if (this.writableHooked) return;
    this.writableHooked = true;
    this.res.onWritable((offset) => {
      if (this.aborted) return true;
      if (this.pending) {
        const [sent, done] = this.res.tryEnd(this.pending.subarray(offset - this.pendingOffset), this.total);
        if (done) this.finish();
        if (!sent && !done) return false;
        this.pending = null;
      }
      this.drainCb?.();
      return true;
    });
  }

  onDrain(cb: () => void): void { this.drainCb = cb; }

  end(): void {
    if (this.over || this.pending) return; // a pending tryEnd finishes by itself
    if (this.headWritten && this.total >= 0) {
      // Fewer bytes than the announced length: the client must not take this as complete.
      this.destroy();
      return;
    }
    this.responded = true;
    if (!this.status) this.status = 200;
    this.finish();
    this.res.cork(() => {
      if (!this.headWritten) this.writeHead();
      this.res.end();
    });
  }

  destroy(): void {
    if (this.over) return; // complete or gone: nothing to cut (and res is off limits)
    this.finish();
    this.aborted = true;
    this.res.close();
  }

  /** 101: the exchange is over (its access log line is the upgrade's); the socket lives on. */
  acceptWebSocket(key: string, extensions: string, context: us_socket_context_t, protocol: string | null, compress: boolean, events: ClientSocketEvents, sockets: Set<UwsClientSocket>): ClientSocket | null {
    if (this.over || this.responded) return null;
    this.responded = true;
    this.status = 101;
    const socket = new UwsClientSocket(events, sockets);
    this.finish();
    // uWS calls `open` inside upgrade(): the socket is live when this returns.
    this.res.cork(() => this.res.upgrade<WsData>({ socket }, key, protocol ?? '', compress ? extensions : '', context));
    return socket;
  }
}

interface WsData { socket: UwsClientSocket }

/** A client WebSocket on uWS. uWS 20.30 cannot pause reading a WebSocket: pause is null. */
class UwsClientSocket implements ClientSocket {
  ws: WebSocket<WsData> | null = null;
  readonly pause = null;
  readonly resume = null;

  constructor(readonly events: ClientSocketEvents, private readonly sockets: Set<UwsClientSocket>) {}

  opened(ws: WebSocket<WsData>): void { this.ws = ws; this.sockets.add(this); }

  /** uWS's close event (it also follows our own end()/close()): the ws is off limits after it. */
  closed(code: number, reason: string): void {
    this.ws = null;
    this.sockets.delete(this);
    this.events.close(code, reason);
  }

  send(data: Uint8Array | string, binary: boolean): boolean {
    // 0: buffered (drain follows); 2 (dropped) cannot happen: maxBackpressure is above what the relay lets build up
    return this.ws ? this.ws.send(data, binary) === 1 : true;
  }
  bufferedAmount(): number { return this.ws ? this.ws.getBufferedAmount() : 0; }
  ping(): void { this.ws?.ping(); }
  close(code: number, reason: string): void { this.ws?.end(code, reason); }
  terminate(): void { this.ws?.close(); }
}

class LiveList {
  head: UwsExchange | null = null;
  size = 0;
  add(ex: UwsExchange): void {
    this.size++;
    ex.next = this.head;
    if (this.head) this.head.prev = ex;
    this.head = ex;
  }
  remove(ex: UwsExchange): void {
    if (ex.prev) ex.prev.next = ex.next;
    else if (this.head === ex) this.head = ex.next;
    else return; // not in the list
    this.size--;
    if (ex.next) ex.next.prev = ex.prev;
    ex.prev = ex.next = null;
  }
  toArray(): UwsExchange[] {
    const out: UwsExchange[] = [];
    for (let ex = this.head; ex; ex = ex.next) out.push(ex);
    return out;
  }
}

export class UwsEngine implements Engine {
  openConnections(): null { return null; }
  readonly name = 'uws' as const;
  private readonly uws: Uws;
  private readonly app: TemplatedApp;
  private listenSocket: us_listen_socket | null = null;
  private readonly live = new LiveList();
  private readonly sockets = new Set<UwsClientSocket>();

  constructor(private readonly opts: EngineOptions, unguarded: RequestHandler) {
    const handler = guarded(unguarded);
    this.uws = loadNativeUws();
    const tls = opts.tls;
    // uSockets takes an OpenSSL cipher list (TLS 1.2 suites; TLS 1.3 always uses its own AEAD ones).
    const ciphers = tls?.ciphers;
    if (tls) {
      const c0 = tls.certs[0]!;
      this.app = this.uws.SSLApp({ cert_file_name: c0.cert, key_file_name: c0.key, passphrase: c0.passphrase, ssl_ciphers: ciphers } as never);
      // A name without its own certificate gets the default one (as nginx's default server does).
      this.app.missingServerName(() => {});
    } else {
      this.app = this.uws.App();
    }
    const scheme = tls ? 'https' : 'http';
    const live = this.live;
    const maxActive = opts.maxConnections;
    /** Every request's first steps (plain or upgrade): its exchange, or null when refused unseen. */
    const admit = (res: HttpResponse): UwsExchange | null => {
      const ex = new UwsExchange(res, live);
      res.onAborted(() => ex.handleAbort());
      if (framingRefusedFrom !== null && Buffer.from(res.getRemoteAddress()).toString('latin1') === framingRefusedFrom) {
        ex.refusePipelined();
        return null;
      }
      // uWS 20.30 tells JS nothing about connections: the cap counts requests in progress.
      if (live.size > maxActive) {
        ex.sendFull(ERRORS.service_unavailable.status, ['content-type', 'application/json', 'retry-after', '1'], errorBody('service_unavailable', 'the gateway is at its connection limit', '-'), true);
        return null;
      }
      return ex;
    };
    const onRequest = (res: HttpResponse, req: HttpRequest) => {
      const ex = admit(res);
      if (ex) handler(headOf(res, req), ex, ex);
    };
    const headOf = (res: HttpResponse, req: HttpRequest): RequestHead => {
      const rawHeaders: string[] = [];
      req.forEach((k, v) => { rawHeaders.push(k, v); });
      return {
        method: req.getCaseSensitiveMethod(),
        path: req.getUrl(),
        query: req.getQuery() ?? '',
        rawHeaders,
        remoteAddress: Buffer.from(res.getRemoteAddressAsText()).toString('latin1'),
        scheme,
        http10: false, // uWS 20.30 never delivers HTTP/1.0 requests (docs/security.md)
      };
    };
    const sockets = this.sockets;
    // uWS sends GET requests with a Sec-WebSocket-Key here; the rest go to any('/*'). The
    // upgrade request runs the same pipeline (policies, routing); a WebSocket route's target
    // accepts it, any other route answers it as plain HTTP.
    const ws: WebSocketBehavior<WsData> = {
      maxPayloadLength: MAX_WEBSOCKET_MESSAGE_BYTES,
      maxBackpressure: 4 * MAX_WEBSOCKET_MESSAGE_BYTES,
      closeOnBackpressureLimit: 0,
      idleTimeout: 0, // routes keep their own idle and ping timers (src/websocket)
      sendPingsAutomatically: false,
      compression: this.uws.SHARED_COMPRESSOR, // used only when the route and the client both ask
      upgrade: (res, req, context) => {
        const ex = admit(res);
        if (!ex) return;
        const head = headOf(res, req);
        const handshake = webSocketHandshake(head.method, head.rawHeaders);
        if (typeof handshake === 'object' && handshake.framing) {
          // uWS reads no body on an upgrade: its bytes would be parsed as the next request
          ex.sendFull(400, ['content-type', 'application/json'], errorBody('bad_request', handshake.message, '-'), 'framing');
          return;
        }
        // a malformed handshake is served as a plain request (a WebSocket route refuses it)
        if (handshake !== 'valid') { handler(head, ex, ex); return; }
        const key = req.getHeader('sec-websocket-key');
        const extensions = req.getHeader('sec-websocket-extensions');
        const protocols = offeredProtocols(head.rawHeaders);
        ex.upgrade = { protocols, accept: (protocol, compress, events) => ex.acceptWebSocket(key, extensions, context, protocol, compress, events, sockets) };
        handler(head, ex, ex);
      },
      open: (w) => { w.getUserData().socket.opened(w); },
      message: (w, message, isBinary) => { w.getUserData().socket.events.message(new Uint8Array(message), isBinary); },
      drain: (w) => { w.getUserData().socket.events.drain(); },
      pong: (w) => { w.getUserData().socket.events.pong(); },
      close: (w, code, message) => { w.getUserData().socket.closed(code, Buffer.from(message).toString('utf8')); },
    };
    this.app.ws('/*', ws);
    this.app.any('/*', onRequest);
    // uWS routes each SNI name to its own router: every name gets the same handler.
    if (tls) {
      for (const c of tls.certs) {
        for (const name of c.serverNames) {
          this.app.addServerName(name.toLowerCase(), { cert_file_name: c.cert, key_file_name: c.key, passphrase: c.passphrase, ssl_ciphers: ciphers } as never);
          this.app.domain(name.toLowerCase()).ws('/*', ws).any('/*', onRequest);
        }
      }
    }
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(this.opts.host, this.opts.port, (socket) => {
        if (!socket) {
          reject(new Error(`uws engine could not listen on ${this.opts.host}:${this.opts.port} (address in use or not available)`));
          return;
        }
        this.listenSocket = socket;
        resolve(this.uws.us_socket_local_port(socket));
      });
    });
  }

  stopListening(): void {
    if (this.listenSocket) {
      this.uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
  }

  closeAll(): void {
    for (const ex of this.live.toArray()) ex.destroy();
    for (const s of [...this.sockets]) s.terminate();
  }

  openWebSockets(): number { return this.sockets.size; }

  closeWebSockets(code: number, reason: string): void {
    for (const s of [...this.sockets]) s.close(code, reason);
  }
}
