// The gRPC channel on the gateway's own HTTP/2 framing (src/h2): the same sessions, backoff,
// keepalive, deadlines and statuses as the node:http2 channel (grpc-h2-client.ts), without
// node:http2's per-stream objects, which cost a unary call 60–80 µs of CPU here against a few
// µs of framing (bench:grpc-unary-cost). upstreams.NAME.http2.client picks one ("gateway",
// the default, or "node").
import net from 'node:net';
import tls from 'node:tls';
import { H2Connection, H2_CANCEL, type H2Stream } from '../h2/connection.js';
import { serverNameFor } from '../upstream/sni.js';
import type { UpstreamTls } from './task.js';
import type { GrpcEncoding } from './grpc-compression.js';
import { codeOfHttp, framedMessage, headerMapOf, keepaliveTimer, MessageReader, ReconnectBackoff, metadataOf, requestHeaders, statusOfTrailers, type GrpcStatus, type HeaderMap } from './grpc-wire.js';
import type { ActiveCall, CallHandlers, H2Settings, StreamingCall } from './grpc-h2-client.js';

/** Receive windows as the node:http2 channel sets them: 1 MB per stream, 16 MB per connection. */
const STREAM_WINDOW = 1024 * 1024;
const CONNECTION_WINDOW = 16 * 1024 * 1024;
const MAX_HEADER_LIST = 64 * 1024;

interface Session { c: H2Connection; connected: boolean; ping: NodeJS.Timeout | null }

export class GrpcFramedChannel {
  private sessions: Session[] = [];
  private readonly host: string;
  private readonly port: number;
  private readonly secure: boolean;
  private readonly authority: string;
  private readonly backoff = new ReconnectBackoff();

  constructor(target: string, private readonly tlsOptions: UpstreamTls | undefined, private readonly maxMessageBytes: number, private readonly compression: GrpcEncoding | undefined, private readonly h2: H2Settings) {
    const u = new URL(target);
    this.secure = u.protocol === 'grpcs:';
    this.host = u.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(u.port);
    this.authority = u.host;
  }

  get sessionCount(): number { return this.sessions.length; }

  private sessionOf(): Session | null {
    let best: Session | null = null;
    for (const x of this.sessions) {
      if (x.c.exhausted) continue;
      if (x.c.active < Math.min(this.h2.maxConcurrentStreams, x.c.peerMaxStreams)) return x;
      if (!best || x.c.active < best.c.active) best = x;
    }
    const open = this.sessions.filter((x) => !x.c.exhausted).length;
    if (best && open >= this.h2.maxSessions) return best; // the connection queues above the server's limit
    if (!open && !this.backoff.open) return null;
    return this.connect();
  }

  private connect(): Session {
    const { host, port } = this;
    const o = this.tlsOptions;
    // Small frames both ways: Nagle would hold them back.
    const socket = this.secure
      ? tls.connect({ host, port, ALPNProtocols: ['h2'], ca: o?.ca, rejectUnauthorized: o?.rejectUnauthorized ?? true, servername: serverNameFor(host, o?.servername) }).setNoDelay(true)
      : net.connect({ host, port, noDelay: true });
    if (this.secure) socket.once('secureConnect', () => { if ((socket as tls.TLSSocket).alpnProtocol !== 'h2') socket.destroy(); });
    // the callbacks run on socket events, after x is made
    const x: Session = { connected: false, ping: null, c: new H2Connection(socket, {
      streamWindow: STREAM_WINDOW, connectionWindow: CONNECTION_WINDOW, maxHeaderListBytes: MAX_HEADER_LIST,
      // connected means the server's SETTINGS arrived, not just TCP: a peer that accepts and drops connections backs off too
      onReady: () => {
        x.connected = true;
        this.backoff.connected();
        if (this.h2.keepaliveMs > 0) x.ping = this.keepalive(x);
      },
      onGoaway: () => { /* exhausted now: sessionOf opens another */ },
      onClose: () => this.forget(x),
    }) };
    this.sessions.push(x);
    return x;
  }

  private forget(x: Session): void {
    if (x.ping) clearInterval(x.ping);
    x.ping = null;
    const i = this.sessions.indexOf(x);
    if (i < 0) return;
    this.sessions.splice(i, 1);
    if (!x.connected) this.backoff.failed();
  }

  /** A PING every keepaliveMs; no answer within keepaliveTimeoutMs ends the session (its calls end UNAVAILABLE). */
  private keepalive(x: Session): NodeJS.Timeout {
    return keepaliveTimer(this.h2.keepaliveMs, this.h2.keepaliveTimeoutMs, { gone: () => x.c.closed, destroy: () => x.c.destroy(), ping: (cb) => x.c.ping(cb) });
  }

  call(path: string, message: Uint8Array, metadata: Array<[string, string]>, deadline: number, h: CallHandlers): ActiveCall {
    const c = this.open(path, metadata, deadline, h);
    c.send(message, true);
    return c;
  }

  open(path: string, metadata: Array<[string, string]>, deadline: number, h: CallHandlers): StreamingCall {
    let ended = false;
    let cancelled = false;
    let trailers: HeaderMap | null = null;
    let gotHeaders = false;
    let headersMd: Array<[string, string]> = [];
    let timer: NodeJS.Timeout | undefined;
    const drains: Array<() => void> = [];
    const end = (st: GrpcStatus) => { if (!ended) { ended = true; clearTimeout(timer); h.onEnd(st); } };
    const reader = new MessageReader(this.maxMessageBytes);
    const session = this.sessionOf();
    // the handlers run on frames, after `stream` is set
    const stream: H2Stream | null = session?.c.request(requestHeaders(path, this.authority, this.secure ? 'https' : 'http', deadline, this.compression, metadata), {
      onHeaders: (fields, last) => {
        if (ended) return;
        const hdrs = headerMapOf(fields);
        if (gotHeaders) { trailers = hdrs; return; }
        const status = Number(hdrs[':status']);
        if (status >= 100 && status < 200 && !last) return; // informational: the answer follows
        gotHeaders = true;
        if (status !== 200) { end({ code: codeOfHttp(status), details: `upstream answered HTTP ${status}`, metadata: [] }); stream?.reset(H2_CANCEL); return; }
        if (hdrs['grpc-status'] !== undefined) { trailers = hdrs; return; } // trailers-only answer
        headersMd = metadataOf(hdrs);
        const enc = hdrs['grpc-encoding'];
        if (typeof enc === 'string') reader.encoding = enc.trim().toLowerCase();
        h.onHeaders(headersMd);
      },
      onData: (chunk) => {
        if (ended || !chunk.length) return;
        const bad = reader.push(chunk, (m) => { h.onMessage(m); return !ended; });
        if (bad) { end({ ...bad, metadata: headersMd }); stream?.reset(H2_CANCEL); }
      },
      onClose: () => {
        const t = trailers as HeaderMap | null;
        if (t && t['grpc-status'] !== undefined) end(statusOfTrailers(t, headersMd));
        else if (cancelled) end({ code: 1, details: 'cancelled', metadata: headersMd });
        else end({ code: 14, details: 'the upstream is unavailable', metadata: headersMd });
      },
      onDrain: () => { for (const cb of drains.splice(0)) cb(); },
    }) ?? null;
    if (!stream) {
      session?.c.close(); // closing or closed: the next call opens another
      queueMicrotask(() => end({ code: 14, details: 'the upstream is unavailable', metadata: [] }));
      return { cancel() {}, pause() {}, resume() {}, send: () => true, end() {}, onDrain() {} };
    }
    timer = setTimeout(() => {
      end({ code: 4, details: 'the upstream did not answer in time (deadline exceeded)', metadata: headersMd });
      stream.reset(H2_CANCEL);
    }, Math.max(1, deadline - Date.now()));
    return {
      cancel: () => { cancelled = true; stream.reset(H2_CANCEL); },
      pause: () => stream.pause(),
      resume: () => stream.resume(),
      send: (message, last = false) => {
        if (ended || stream.localEnded || stream.closed) return true;
        const parts = framedMessage(message, this.compression);
        for (let i = 0; i < parts.length - 1; i++) stream.write(parts[i]!);
        return stream.write(parts[parts.length - 1]!, last) || last;
      },
      end: () => { if (!stream.closed) stream.end(); },
      onDrain: (cb) => { drains.push(cb); },
    };
  }

  close(): void {
    for (const x of this.sessions) { if (x.ping) clearInterval(x.ping); x.c.close(); }
    this.sessions = [];
  }
}
