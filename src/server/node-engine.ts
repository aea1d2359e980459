// The portable node:http front end: same shape as the uws engine, used as fallback and as
// the benchmark baseline. node's own parser rejects malformed requests; clientError turns
// those into JSON 400/431 answers instead of node's bare defaults.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { errorBody } from '../errors.js';
import type { BodySource, Engine, EngineOptions, RequestHandler, ResponseSink } from './types.js';
import { guarded } from './guard.js';

class NodeExchange implements BodySource, ResponseSink {
  aborted = false;
  private abortCb: (() => void) | null = null;
  private drainCb: (() => void) | null = null;
  private started = false;

  constructor(private readonly req: IncomingMessage, private readonly res: ServerResponse) {
    res.on('close', () => {
      if (res.writableFinished) return;
      this.aborted = true;
      const cb = this.abortCb;
      this.abortCb = null;
      cb?.();
    });
  }

  onAborted(cb: () => void): void { this.abortCb = cb; }

  onData(cb: (chunk: Uint8Array, last: boolean) => void): void {
    this.req.on('data', (c: Buffer) => cb(c, false));
    this.req.on('end', () => cb(new Uint8Array(0), true));
  }
  pause(): void { this.req.pause(); }
  resume(): void { this.req.resume(); }

  sendFull(status: number, headers: string[], body: string | Uint8Array): void {
    if (this.aborted || this.started) return;
    this.started = true;
    const len = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    this.res.writeHead(status, [...headers, 'content-length', String(len)]);
    this.res.end(body);
  }

  start(status: number, headers: string[], contentLength: number, headless: boolean): void {
    if (this.aborted || this.started) return;
    this.started = true;
    this.res.writeHead(status, contentLength >= 0 ? [...headers, 'content-length', String(contentLength)] : headers);
    if (headless) this.res.end();
  }

  write(chunk: Uint8Array): boolean {
    if (this.aborted) return true;
    // node keeps the chunk until it is flushed; the caller's chunk is only valid now.
    const ok = this.res.write(Buffer.from(chunk));
    if (!ok) this.res.once('drain', () => this.drainCb?.());
    return ok;
  }

  onDrain(cb: () => void): void { this.drainCb = cb; }

  end(): void {
    if (this.aborted) return;
    if (!this.started) this.start(200, [], 0, false);
    this.res.end();
  }

  destroy(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.res.destroy();
  }
}

export class NodeEngine implements Engine {
  readonly name = 'node' as const;
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly opts: EngineOptions, unguarded: RequestHandler) {
    const handler = guarded(unguarded);
    const scheme = opts.tls ? 'https' : 'http';
    const create = (options: http.ServerOptions, listener: http.RequestListener): http.Server => {
      if (!opts.tls) return http.createServer(options, listener);
      const contexts = opts.tls.certs.map((c) => ({
        names: c.serverNames.map((n) => n.toLowerCase()),
        options: { cert: readFileSync(c.cert), key: readFileSync(c.key), passphrase: c.passphrase },
      }));
      const byName = new Map<string, tls.SecureContext>();
      for (const c of contexts) {
        const ctx = tls.createSecureContext({ ...c.options, minVersion: 'TLSv1.2' });
        for (const n of c.names) byName.set(n, ctx);
      }
      return https.createServer({
        ...options,
        ...contexts[0]!.options,
        minVersion: 'TLSv1.2',
        SNICallback: (name, cb) => cb(null, byName.get(name.toLowerCase())),
      }, listener) as unknown as http.Server;
    };
    this.server = create(
      {
        maxHeaderSize: opts.maxHeaderBytes,
        headersTimeout: opts.headersTimeoutMs,
        requestTimeout: 0,
        // node checks header deadlines on this interval (default 30 s): keep it well under the limit.
        connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(opts.headersTimeoutMs / 4))),
        keepAliveTimeout: 65_000,
        // The gateway needs the header list as sent, not node's merged object.
        joinDuplicateHeaders: false,
      },
      (req, res) => {
        const rawHeaders: string[] = [];
        const raw = req.rawHeaders;
        for (let i = 0; i < raw.length; i += 2) rawHeaders.push(raw[i]!.toLowerCase(), raw[i + 1]!);
        const url = req.url ?? '/';
        const q = url.indexOf('?');
        const ex = new NodeExchange(req, res);
        handler(
          {
            method: req.method ?? 'GET',
            path: q < 0 ? url : url.slice(0, q),
            query: q < 0 ? '' : url.slice(q + 1),
            rawHeaders,
            remoteAddress: req.socket.remoteAddress ?? '',
            scheme,
          },
          ex,
          ex,
        );
      },
    );
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (!socket.writable || (err.code === 'ECONNRESET')) { socket.destroy(); return; }
      const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
      const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT';
      const status = tooLarge ? 431 : timeout ? 408 : 400;
      const body = errorBody(
        tooLarge ? 'header_fields_too_large' : timeout ? 'request_timeout' : 'bad_request',
        tooLarge ? 'request headers are too large' : timeout ? 'request headers were not received in time' : 'malformed HTTP request',
        randomUUID(),
      );
      const text = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
      socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
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
}
