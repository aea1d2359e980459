// The portable node:http front end: same shape as the uws engine, used as fallback and as
// the benchmark baseline. node's own parser rejects malformed requests; clientError turns
// those into JSON 400/431 answers instead of node's bare defaults.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { ERRORS, errorBody } from '../errors.js';
import type { BodySource, Engine, EngineOptions, RequestHandler, RequestHead, ResponseSink } from './types.js';
import { guarded } from './guard.js';
import { statusLine } from './status-line.js';
import { RawExchange, webSocketServers, webSocketUpgradeOf, type WebSocketServers } from './raw-exchange.js';
import { declaresBody, UPGRADE_WITH_BODY, webSocketHandshake } from './websocket-handshake.js';

class NodeExchange implements BodySource, ResponseSink {
  aborted = false;
  responded = false;
  status = 0;
  bytesIn = 0;
  bytesOut = 0;
  private abortCbs: Array<() => void> | null = null;
  private finishedCb: (() => void) | null = null;
  private drainCb: (() => void) | null = null;

  constructor(private readonly req: IncomingMessage, private readonly res: ServerResponse) {
    // 'close' comes once, after the response was flushed or when the client went away.
    res.on('close', () => {
      if (!res.writableFinished) {
        this.aborted = true;
        const cbs = this.abortCbs;
        this.abortCbs = null;
        if (cbs) for (const cb of cbs) cb();
      }
      const cb = this.finishedCb;
      this.finishedCb = null;
      cb?.();
    });
  }

  private get over(): boolean { return this.aborted || this.res.writableEnded; }

  onAborted(cb: () => void): void { (this.abortCbs ??= []).push(cb); }
  onFinished(cb: () => void): void { this.finishedCb = cb; }

  onData(cb: (chunk: Uint8Array, last: boolean) => void): void {
    this.req.on('data', (c: Buffer) => { this.bytesIn += c.length; if (!this.aborted) cb(c, false); });
    this.req.on('end', () => { if (!this.aborted) cb(new Uint8Array(0), true); });
  }
  pause(): void { if (!this.over) this.req.pause(); }
  resume(): void { if (!this.over) this.req.resume(); }

  sendFull(status: number, headers: string[], body: string | Uint8Array, close: boolean | 'framing' = false): void {
    if (this.over || this.responded) return;
    this.responded = true;
    this.status = status;
    const len = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    this.bytesOut = len;
    // node closes the connection after a response that says "Connection: close".
    this.res.writeHead(status, close ? [...headers, 'content-length', String(len), 'connection', 'close'] : [...headers, 'content-length', String(len)]);
    this.res.end(body);
  }

  start(status: number, headers: string[], contentLength: number, headless: boolean): void {
    if (this.over || this.responded) return;
    this.responded = true;
    this.status = status;
    this.res.writeHead(status, contentLength >= 0 ? [...headers, 'content-length', String(contentLength)] : headers);
    if (headless) this.res.end();
  }

  write(chunk: Uint8Array): boolean {
    if (this.over || !this.responded) return true;
    // node keeps the chunk until it is flushed; the caller's chunk is only valid now.
    this.bytesOut += chunk.byteLength;
    const ok = this.res.write(Buffer.from(chunk));
    if (!ok) this.res.once('drain', () => this.drainCb?.());
    return ok;
  }

  onDrain(cb: () => void): void { this.drainCb = cb; }

  end(): void {
    if (this.over) return;
    if (!this.responded) this.start(200, [], 0, false);
    this.res.end();
  }

  destroy(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.res.destroy();
  }
}

/** The request line and headers as the core reads them (plain requests and Upgrade ones). */
function headOf(req: IncomingMessage, scheme: string): RequestHead {
  const rawHeaders: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) rawHeaders.push(raw[i]!.toLowerCase(), raw[i + 1]!);
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return {
    method: req.method ?? 'GET',
    path: q < 0 ? url : url.slice(0, q),
    query: q < 0 ? '' : url.slice(q + 1),
    rawHeaders,
    remoteAddress: req.socket.remoteAddress ?? '',
    scheme,
    http10: req.httpVersion === '1.0',
  };
}

export class NodeEngine implements Engine {
  readonly name = 'node' as const;
  openConnections(): number { return this.sockets.size; }
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly ws: WebSocketServers = webSocketServers();

  constructor(private readonly opts: EngineOptions, unguarded: RequestHandler) {
    const handler = guarded(unguarded);
    const scheme = opts.tls ? 'https' : 'http';
    const create = (options: http.ServerOptions, listener: http.RequestListener): http.Server => {
      if (!opts.tls) return http.createServer(options, listener);
      const contexts = opts.tls.certs.map((c) => ({
        names: c.serverNames.map((n) => n.toLowerCase()),
        options: { cert: readFileSync(c.cert), key: readFileSync(c.key), passphrase: c.passphrase },
      }));
      // The server's cipher order wins (the client cannot pick a weaker suite it also offers).
      const policy = { minVersion: opts.tls.minVersion, ciphers: opts.tls.ciphers, honorCipherOrder: true } as const;
      const byName = new Map<string, tls.SecureContext>();
      for (const c of contexts) {
        const ctx = tls.createSecureContext({ ...c.options, ...policy });
        for (const n of c.names) byName.set(n, ctx);
      }
      return https.createServer({
        ...options,
        ...contexts[0]!.options,
        ...policy,
        SNICallback: (name, cb) => cb(null, byName.get(name.toLowerCase())),
      }, listener) as unknown as http.Server;
    };
    this.server = create(
      {
        maxHeaderSize: opts.maxHeaderBytes,
        headersTimeout: opts.headersTimeoutMs,
        requestTimeout: opts.requestTimeoutMs,
        // node checks header deadlines on this interval (default 30 s): keep it well under the limit.
        connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(opts.headersTimeoutMs / 4))),
        keepAliveTimeout: opts.idleTimeoutMs,
        // The gateway needs the header list as sent, not node's merged object.
        joinDuplicateHeaders: false,
      },
      (req, res) => {
        const ex = new NodeExchange(req, res);
        handler(headOf(req, scheme), ex, ex);
      },
    );
    // Every request with an Upgrade header comes here (node: as soon as there is a listener).
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, rest: Buffer) => {
      const ex = new RawExchange(socket);
      const head = headOf(req, scheme);
      if (declaresBody(head.rawHeaders)) {
        // Upgrade requests (any kind: h2c too) are read head-only here; a body would be the next request's bytes.
        ex.sendFull(400, ['content-type', 'application/json'], errorBody('bad_request', UPGRADE_WITH_BODY, randomUUID()));
        return;
      }
      const handshake = webSocketHandshake(head.method, head.rawHeaders);
      // any other Upgrade (h2c, a malformed handshake) is served as a plain request
      if (handshake === 'valid') ex.upgrade = webSocketUpgradeOf(req, head, rest, ex, this.ws);
      handler(head, null, ex);
    });
    this.server.maxConnections = opts.maxConnections; // past it, node closes new connections at once
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
      if (!socket.writable || (err.code === 'ECONNRESET')) { socket.destroy(); return; }
      let tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
      // A request line longer than the URI limit overflows node's header buffer first: 414.
      const line = tooLarge && err.rawPacket ? err.rawPacket.indexOf('\r\n') : 0;
      const uriTooLong = tooLarge && (line < 0 || line > opts.maxUriBytes);
      if (uriTooLong) tooLarge = false;
      const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT';
      const [code, message] = uriTooLong ? ['uri_too_long', 'the request target is too long'] as const
        : tooLarge ? ['header_fields_too_large', 'request headers are too large'] as const
        : timeout ? ['request_timeout', 'the request was not received in time'] as const
        : ['bad_request', 'malformed HTTP request'] as const;
      const body = errorBody(code, message, randomUUID());
      socket.end(`HTTP/1.1 ${statusLine(ERRORS[code].status)}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as { port: number }).port);
      });
    });
  }

  stopListening(): void {
    this.server.close();
    this.server.closeIdleConnections();
  }

  closeAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  openWebSockets(): number { return this.ws.open.size; }

  closeWebSockets(code: number, reason: string): void {
    for (const s of [...this.ws.open]) s.close(code, reason);
  }
}
