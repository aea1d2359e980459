// The client side of one HTTP/2 connection (RFC 9113), written for the gateway's gRPC calls:
// node:http2 spends 60–80 µs of CPU on a unary exchange here, most of it in its stream
// objects, against a few µs of framing (bench:grpc-unary-cost). Frames written in one
// event-loop turn go out in one socket write; flow control both ways; header blocks over
// CONTINUATION; GOAWAY, RST_STREAM, PING and SETTINGS as the RFC says. No server push
// (disabled in our SETTINGS), no priorities (ignored), no dynamic table in what we send.
import type { Socket } from 'node:net';
import { HpackDecoder, HpackError, encodeHeaders } from './hpack.js';

const DATA = 0, HEADERS = 1, RST_STREAM = 3, SETTINGS = 4, PUSH_PROMISE = 5, PING = 6, GOAWAY = 7, WINDOW_UPDATE = 8, CONTINUATION = 9;
const END_STREAM = 0x1, ACK = 0x1, END_HEADERS = 0x4, PADDED = 0x8, PRIORITY = 0x20;
export const H2_NO_ERROR = 0, H2_PROTOCOL_ERROR = 1, H2_INTERNAL_ERROR = 2, H2_FLOW_CONTROL_ERROR = 3, H2_FRAME_SIZE_ERROR = 6, H2_REFUSED_STREAM = 7, H2_CANCEL = 8, H2_COMPRESSION_ERROR = 9;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const MAX_WINDOW = 2 ** 31 - 1;
const MAX_STREAM_ID = 2 ** 31 - 1;
/** the frame size we accept: the default, never raised in our SETTINGS */
const MAX_FRAME = 16384;
/** a header block (HEADERS + CONTINUATION) larger than this ends the connection */
const MAX_HEADER_BLOCK = 256 * 1024;
/** queued request bytes of one stream above which write() answers false (until onDrain) */
const HIGH_WATER = 64 * 1024;
/** bytes waiting in the socket (and for this turn's write) above which no more DATA is framed until it drains:
 * a peer that grants large windows and does not read cannot make the queue grow without bound */
const SOCKET_HIGH_WATER = 1024 * 1024;

export interface StreamHandlers {
  /** a header block: the response headers first, then (with `end`) the trailers */
  onHeaders(fields: Array<[string, string]>, end: boolean): void;
  onData(chunk: Buffer, end: boolean): void;
  /** the stream is over: `end` after the peer's END_STREAM; `reset` by RST_STREAM (code); `refused`
   * when the peer never processed it (GOAWAY above its id, REFUSED_STREAM: safe to retry); `lost` with the connection */
  onClose(how: 'end' | 'reset' | 'refused' | 'lost', code: number): void;
  onDrain(): void;
}

export interface ConnectionOptions {
  /** our receive window per stream (SETTINGS_INITIAL_WINDOW_SIZE) and for the connection */
  streamWindow: number;
  connectionWindow: number;
  maxHeaderListBytes: number;
  /** the peer's first SETTINGS arrived */
  onReady(): void;
  /** the peer sent GOAWAY: no new streams here */
  onGoaway(): void;
  /** the connection is gone (every stream has had its onClose) */
  onClose(): void;
}

/** `size`: the DATA frame's whole length, padding included (what it took of the window) */
type Held = { data: Buffer; size: number; end: boolean } | { fields: Array<[string, string]>; end: boolean };

export class H2Stream {
  id = 0;
  sendWindow: number;
  private queue: Buffer[] = [];
  private queued = 0;
  private endQueued = false;
  localEnded = false;
  closed = false;
  private paused = false;
  private held: Held[] = [];
  /** DATA bytes the peer has sent of our window and not had back yet, and how many of them were delivered (what the next WINDOW_UPDATE gives back) */
  inWindow = 0;
  consumed = 0;
  private wantDrain = false;

  constructor(private readonly conn: H2Connection, readonly h: StreamHandlers) { this.sendWindow = conn.peerInitialWindow; }

  /** false: the stream holds more than its high-water mark; onDrain follows */
  write(data: Uint8Array, end = false): boolean {
    if (this.closed || this.endQueued) return true;
    if (data.byteLength) { this.queue.push(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)); this.queued += data.byteLength; }
    if (end) this.endQueued = true;
    this.conn.flushStream(this);
    if (this.queued > HIGH_WATER) { this.wantDrain = true; return false; }
    return true;
  }

  end(): void { this.write(Buffer.alloc(0), true); }

  /** RST_STREAM (CANCEL by default); nothing more is delivered, and onClose('reset') follows in a later turn (as node:http2's 'close' does) */
  reset(code = H2_CANCEL): void { this.conn.resetStream(this, code); }

  pause(): void { this.paused = true; }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    while (!this.paused && this.held.length && !this.closed) this.deliver(this.held.shift()!);
    if (!this.closed) this.conn.ackStream(this); // only what was delivered: held bytes keep their window
  }

  /** @internal */
  receive(ev: Held): void {
    if (this.paused || this.held.length) { this.held.push(ev); return; }
    this.deliver(ev);
  }

  private deliver(ev: Held): void {
    try {
      if ('data' in ev) { this.consumed += ev.size; this.h.onData(ev.data, ev.end); }
      else this.h.onHeaders(ev.fields, ev.end);
    } catch {
      // a handler's bug costs this stream, not the connection's other streams
      this.conn.resetStream(this, H2_INTERNAL_ERROR);
      return;
    }
    if (ev.end) this.conn.finish(this, 'end', H2_NO_ERROR);
  }

  /** @internal the next DATA frame's worth of queued bytes, within the windows; null when none can go */
  take(room: number): { chunk: Buffer; end: boolean } | null {
    if (!this.queue.length) {
      if (this.endQueued && !this.localEnded) { this.localEnded = true; return { chunk: Buffer.alloc(0), end: true }; }
      return null;
    }
    const n = Math.min(room, this.sendWindow);
    if (n <= 0) return null;
    let head = this.queue[0]!;
    if (head.length > n) { this.queue[0] = head.subarray(n); head = head.subarray(0, n); } else this.queue.shift();
    this.queued -= head.length;
    this.sendWindow -= head.length;
    const end = this.endQueued && !this.queue.length;
    if (end) this.localEnded = true;
    return { chunk: head, end };
  }

  /** @internal */
  get hasQueued(): boolean { return this.queue.length > 0 || (this.endQueued && !this.localEnded); }

  /** @internal */
  drained(): void {
    if (this.wantDrain && this.queued <= HIGH_WATER && !this.closed) { this.wantDrain = false; this.h.onDrain(); }
  }

  /** @internal */
  drop(): void { this.closed = true; this.queue = []; this.queued = 0; this.held = []; }
}

export class H2Connection {
  private readonly streams = new Map<number, H2Stream>();
  /** streams waiting for room under the peer's MAX_CONCURRENT_STREAMS */
  private readonly waiting: Array<{ s: H2Stream; block: Buffer; end: boolean }> = [];
  /** streams with bytes the connection window or the socket bound holds back */
  private readonly blocked = new Set<H2Stream>();
  private nextId = 1;
  private lastOpened = 0;
  peerInitialWindow = 65535;
  private peerMaxFrame = 16384;
  peerMaxStreams = Infinity;
  private sendWindow = 65535;
  private recvUnacked = 0;
  private readonly decoder: HpackDecoder;
  private partial: Buffer | null = null;
  private continuing: { id: number; flags: number; parts: Buffer[]; bytes: number } | null = null;
  private out: Buffer[] = [];
  private scratch = Buffer.allocUnsafe(0);
  private used = 0;
  private start = 0;
  private flushing = false;
  /** bytes in `out` and the shared buffer not yet handed to the socket */
  private outBytes = 0;
  private pings: Array<(ok: boolean) => void> = [];
  ready = false;
  goneAway = false;
  closed = false;

  constructor(readonly socket: Socket, private readonly o: ConnectionOptions) {
    this.decoder = new HpackDecoder(4096, o.maxHeaderListBytes);
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('error', () => { /* 'close' follows */ });
    socket.on('close', () => this.lost());
    socket.on('drain', () => this.flushBlocked());
    this.push(PREFACE);
    const settings = Buffer.alloc(12);
    settings.writeUInt16BE(2, 0); settings.writeUInt32BE(0, 2); // ENABLE_PUSH 0
    settings.writeUInt16BE(4, 6); settings.writeUInt32BE(o.streamWindow, 8); // INITIAL_WINDOW_SIZE
    this.frame(SETTINGS, 0, 0, settings);
    if (o.connectionWindow > 65535) this.windowUpdate(0, o.connectionWindow - 65535);
  }

  /** streams open now (and waiting to open) */
  get active(): number { return this.streams.size + this.waiting.length; }

  /** Opens a stream with this header block; null when the connection takes no new streams. */
  request(fields: ReadonlyArray<readonly [string, string]>, h: StreamHandlers, end = false): H2Stream | null {
    if (this.exhausted) return null;
    const s = new H2Stream(this, h);
    const block = encodeHeaders(fields);
    if (this.streams.size >= this.peerMaxStreams) this.waiting.push({ s, block, end });
    else this.open(s, block, end);
    return s;
  }

  /** true when no further stream can be opened here (GOAWAY, closed, ids used up) */
  get exhausted(): boolean { return this.closed || this.goneAway || this.nextId > MAX_STREAM_ID; }

  ping(cb: (ok: boolean) => void): void {
    if (this.closed) { cb(false); return; }
    this.pings.push(cb);
    this.frame(PING, 0, 0, Buffer.alloc(8));
  }

  /** GOAWAY(NO_ERROR) and close once the open streams are done */
  close(): void {
    if (this.closed) return;
    if (!this.goneAway) { this.goneAway = true; this.goaway(H2_NO_ERROR); }
    for (const w of this.waiting.splice(0)) this.finish(w.s, 'refused', H2_REFUSED_STREAM);
    if (!this.streams.size) this.socket.end();
  }

  destroy(): void { this.socket.destroy(); }

  private open(s: H2Stream, block: Buffer, end: boolean): void {
    s.id = this.nextId;
    this.nextId += 2;
    this.lastOpened = s.id;
    this.streams.set(s.id, s);
    const max = this.peerMaxFrame;
    if (block.length <= max) this.frame(HEADERS, END_HEADERS | (end ? END_STREAM : 0), s.id, block);
    else {
      this.frame(HEADERS, end ? END_STREAM : 0, s.id, block.subarray(0, max));
      for (let at = max; at < block.length; at += max) this.frame(CONTINUATION, at + max >= block.length ? END_HEADERS : 0, s.id, block.subarray(at, at + max));
    }
    if (end) s.localEnded = true;
    if (s.hasQueued) this.flushStream(s);
  }

  /** opens the streams that waited, as far as the peer's MAX_CONCURRENT_STREAMS lets */
  private openWaiting(): void {
    while (this.waiting.length && this.streams.size < this.peerMaxStreams && !this.exhausted) {
      const w = this.waiting.shift()!;
      this.open(w.s, w.block, w.end);
    }
  }

  /** @internal sends what the windows let go of a stream's queue */
  flushStream(s: H2Stream): void {
    if (!s.id || s.closed) return; // not open yet: open() flushes it
    for (;;) {
      if (this.socket.writableLength + this.outBytes >= SOCKET_HIGH_WATER) { this.blocked.add(s); break; } // the socket's 'drain' (or the next flush) goes on
      const room = Math.min(this.sendWindow, this.peerMaxFrame);
      const next = s.take(room);
      if (!next) break;
      this.sendWindow -= next.chunk.length;
      this.frame(DATA, next.end ? END_STREAM : 0, s.id, next.chunk);
    }
    if (s.hasQueued && this.sendWindow <= 0) this.blocked.add(s);
    s.drained();
  }

  /** the socket drained or the connection window grew: the streams held back go on */
  private flushBlocked(): void {
    for (const s of [...this.blocked]) { this.blocked.delete(s); this.flushStream(s); }
  }

  /** @internal gives a resumed stream's received bytes back to the peer */
  ackStream(s: H2Stream): void {
    if (s.id && s.consumed >= this.o.streamWindow / 2) { this.windowUpdate(s.id, s.consumed); s.inWindow -= s.consumed; s.consumed = 0; }
  }

  /** @internal */
  resetStream(s: H2Stream, code: number): void {
    if (s.closed) return;
    const i = this.waiting.findIndex((w) => w.s === s);
    if (i >= 0) this.waiting.splice(i, 1);
    else if (s.id) this.frame(RST_STREAM, 0, s.id, u32(code));
    this.finish(s, 'reset', code, true);
  }

  /** @internal the stream's last event: forget it, let a waiting one open, tell its owner */
  finish(s: H2Stream, how: 'end' | 'reset' | 'refused' | 'lost', code: number, later = false): void {
    if (s.closed) return;
    // the peer ended its side first: our side is over too (RFC 9113 §8.1: RST_STREAM NO_ERROR)
    if (how === 'end' && !s.localEnded && !this.closed) this.frame(RST_STREAM, 0, s.id, u32(H2_NO_ERROR));
    s.drop();
    this.streams.delete(s.id);
    this.blocked.delete(s);
    this.openWaiting();
    const tell = () => { try { s.h.onClose(how, code); } catch { /* the owner's bug: the stream is gone either way */ } };
    if (later) setImmediate(tell); else tell();
    if (this.goneAway && !this.streams.size && !this.waiting.length && !this.closed) this.socket.end();
  }

  private read(chunk: Buffer): void {
    let b = chunk;
    if (this.partial) { b = Buffer.concat([this.partial, chunk]); this.partial = null; }
    let at = 0;
    while (!this.closed && b.length - at >= 9) {
      const len = (b[at]! << 16) | (b[at + 1]! << 8) | b[at + 2]!;
      if (len > MAX_FRAME) { this.fail(H2_FRAME_SIZE_ERROR); return; }
      if (b.length - at < 9 + len) break;
      const type = b[at + 3]!, flags = b[at + 4]!;
      const id = b.readUInt32BE(at + 5) & 0x7fffffff;
      const payload = b.subarray(at + 9, at + 9 + len);
      at += 9 + len;
      try {
        this.onFrame(type, flags, id, payload);
      } catch (e) {
        // our own bug (handlers are guarded per stream) costs this connection, not the thread
        this.fail(e instanceof HpackError ? H2_COMPRESSION_ERROR : H2_PROTOCOL_ERROR);
        return;
      }
    }
    if (at < b.length && !this.closed) this.partial = b.subarray(at);
  }

  private onFrame(type: number, flags: number, id: number, p: Buffer): void {
    if (this.continuing && type !== CONTINUATION) { this.fail(H2_PROTOCOL_ERROR); return; }
    switch (type) {
      case DATA: return this.onData(flags, id, p);
      case HEADERS: {
        if (!id) return this.fail(H2_PROTOCOL_ERROR);
        let from = 0, to = p.length;
        if (flags & PADDED) { from = 1; to -= p[0] ?? 0; }
        if (flags & PRIORITY) from += 5;
        if (to < from) return this.fail(H2_PROTOCOL_ERROR);
        const fragment = p.subarray(from, to);
        if (flags & END_HEADERS) return this.onHeaderBlock(id, flags, fragment);
        this.continuing = { id, flags, parts: [Buffer.from(fragment)], bytes: fragment.length };
        return;
      }
      case CONTINUATION: {
        const c = this.continuing;
        if (!c || c.id !== id) return this.fail(H2_PROTOCOL_ERROR);
        c.parts.push(Buffer.from(p));
        c.bytes += p.length;
        if (c.bytes > MAX_HEADER_BLOCK) return this.fail(H2_PROTOCOL_ERROR);
        if (flags & END_HEADERS) { this.continuing = null; this.onHeaderBlock(id, c.flags, Buffer.concat(c.parts, c.bytes)); }
        return;
      }
      case RST_STREAM: {
        if (!id || p.length !== 4) return this.fail(id ? H2_FRAME_SIZE_ERROR : H2_PROTOCOL_ERROR);
        const s = this.streams.get(id);
        if (s) { const code = p.readUInt32BE(0); this.finish(s, code === H2_REFUSED_STREAM ? 'refused' : 'reset', code); }
        return;
      }
      case SETTINGS: return this.onSettings(flags, id, p);
      case PUSH_PROMISE: return this.fail(H2_PROTOCOL_ERROR); // we sent ENABLE_PUSH 0
      case PING: {
        if (id) return this.fail(H2_PROTOCOL_ERROR);
        if (p.length !== 8) return this.fail(H2_FRAME_SIZE_ERROR);
        if (flags & ACK) this.pings.shift()?.(true);
        else this.frame(PING, ACK, 0, Buffer.from(p));
        return;
      }
      case GOAWAY: {
        if (id || p.length < 8) return this.fail(H2_PROTOCOL_ERROR);
        const last = p.readUInt32BE(0) & 0x7fffffff, code = p.readUInt32BE(4);
        this.goneAway = true;
        for (const [sid, s] of [...this.streams]) if (sid > last) this.finish(s, 'refused', code);
        for (const w of this.waiting.splice(0)) this.finish(w.s, 'refused', code);
        this.o.onGoaway();
        if (!this.streams.size) this.socket.end();
        return;
      }
      case WINDOW_UPDATE: {
        if (p.length !== 4) return this.fail(H2_FRAME_SIZE_ERROR);
        const inc = p.readUInt32BE(0) & 0x7fffffff;
        if (!id) {
          if (!inc) return this.fail(H2_PROTOCOL_ERROR);
          this.sendWindow += inc;
          if (this.sendWindow > MAX_WINDOW) return this.fail(H2_FLOW_CONTROL_ERROR);
          this.flushBlocked();
          return;
        }
        const s = this.streams.get(id);
        if (!s) return;
        if (!inc || s.sendWindow + inc > MAX_WINDOW) { this.resetStream(s, inc ? H2_FLOW_CONTROL_ERROR : H2_PROTOCOL_ERROR); return; }
        s.sendWindow += inc;
        this.flushStream(s);
        return;
      }
      default: return; // PRIORITY and unknown types are ignored
    }
  }

  private onData(flags: number, id: number, p: Buffer): void {
    if (!id) return this.fail(H2_PROTOCOL_ERROR);
    // the whole frame counts against the windows, padding too
    this.recvUnacked += p.length;
    if (this.recvUnacked > this.o.connectionWindow) return this.fail(H2_FLOW_CONTROL_ERROR);
    if (this.recvUnacked >= this.o.connectionWindow / 2) { this.windowUpdate(0, this.recvUnacked); this.recvUnacked = 0; }
    const s = this.streams.get(id);
    if (!s) { if (id > this.lastOpened || !(id & 1)) this.fail(H2_PROTOCOL_ERROR); return; } // a stream we reset: dropped
    let data = p;
    if (flags & PADDED) {
      const pad = p[0] ?? 0;
      if (pad >= p.length) return this.fail(H2_PROTOCOL_ERROR);
      data = p.subarray(1, p.length - pad);
    }
    s.inWindow += p.length;
    if (s.inWindow > this.o.streamWindow) { this.resetStream(s, H2_FLOW_CONTROL_ERROR); return; }
    s.receive({ data, size: p.length, end: (flags & END_STREAM) !== 0 });
    if (!s.closed) this.ackStream(s);
  }

  private onHeaderBlock(id: number, flags: number, block: Buffer): void {
    // decoded even for a stream we reset: the table must stay in step
    const fields = this.decoder.decode(block);
    const s = this.streams.get(id);
    if (!s) { if (id > this.lastOpened || !(id & 1)) this.fail(H2_PROTOCOL_ERROR); return; }
    if (!fields) { this.resetStream(s, H2_PROTOCOL_ERROR); return; } // over maxHeaderListBytes: this stream only
    s.receive({ fields, end: (flags & END_STREAM) !== 0 });
  }

  private onSettings(flags: number, id: number, p: Buffer): void {
    if (id) return this.fail(H2_PROTOCOL_ERROR);
    if (flags & ACK) { if (p.length) this.fail(H2_FRAME_SIZE_ERROR); return; }
    if (p.length % 6) return this.fail(H2_FRAME_SIZE_ERROR);
    for (let at = 0; at < p.length; at += 6) {
      const key = p.readUInt16BE(at), v = p.readUInt32BE(at + 2);
      if (key === 3) this.peerMaxStreams = v;
      else if (key === 4) {
        if (v > MAX_WINDOW) return this.fail(H2_FLOW_CONTROL_ERROR);
        const delta = v - this.peerInitialWindow;
        this.peerInitialWindow = v;
        for (const s of this.streams.values()) s.sendWindow += delta;
      } else if (key === 5) {
        if (v < 16384 || v > 16777215) return this.fail(H2_PROTOCOL_ERROR);
        this.peerMaxFrame = v;
      }
      // 1 (HEADER_TABLE_SIZE): our encoder uses no dynamic table; 2, 6 and unknown keys: nothing to do
    }
    this.frame(SETTINGS, ACK, 0);
    for (const s of [...this.streams.values()]) this.flushStream(s);
    this.openWaiting();
    if (!this.ready) { this.ready = true; this.o.onReady(); }
  }

  /** a connection error: GOAWAY with the code, then the socket goes */
  private fail(code: number): void {
    if (this.closed) return;
    this.goaway(code);
    this.flush();
    this.socket.destroySoon();
    this.lost();
  }

  private lost(): void {
    if (this.closed) return;
    this.closed = true;
    this.goneAway = true;
    for (const w of this.waiting.splice(0)) this.finish(w.s, 'refused', H2_REFUSED_STREAM);
    for (const s of [...this.streams.values()]) this.finish(s, 'lost', H2_CANCEL);
    for (const cb of this.pings.splice(0)) cb(false);
    this.o.onClose();
  }

  private goaway(code: number): void {
    const p = Buffer.alloc(8);
    p.writeUInt32BE(0, 0); // we accept no streams from the peer
    p.writeUInt32BE(code, 4);
    this.frame(GOAWAY, 0, 0, p);
  }

  private windowUpdate(id: number, inc: number): void { this.frame(WINDOW_UPDATE, 0, id, u32(inc)); }

  /** Queues one frame; small ones are copied into a shared buffer, every queued byte goes out in one write this turn. */
  private frame(type: number, flags: number, id: number, payload?: Uint8Array): void {
    if (this.closed) return;
    const n = payload?.byteLength ?? 0;
    // payloads up to 4 KB are copied into the shared buffer: many small message buffers kept
    // alive until this turn's write made the pool worker's heap grow (a 100 MB NDJSON upload
    // peaked at +22 to +54 MB RSS in 2 of 9 runs with 1 KB, +1 to +14 MB in 10 runs with 4 KB)
    const copy = n <= 4096;
    this.room(9 + (copy ? n : 0));
    const b = this.scratch;
    let at = this.used;
    b[at] = n >>> 16; b[at + 1] = (n >>> 8) & 0xff; b[at + 2] = n & 0xff;
    b[at + 3] = type; b[at + 4] = flags;
    b.writeUInt32BE(id, at + 5);
    at += 9;
    this.outBytes += 9 + n;
    if (copy) { if (n) b.set(payload!, at); at += n; this.used = at; }
    else {
      this.used = at;
      this.cut();
      this.out.push(Buffer.isBuffer(payload) ? payload : Buffer.from(payload!.buffer, payload!.byteOffset, n));
    }
    this.schedule();
  }

  private push(b: Buffer): void { this.cut(); this.out.push(b); this.outBytes += b.length; this.schedule(); }

  private room(n: number): void {
    if (this.scratch.length - this.used >= n) return;
    this.cut();
    this.scratch = Buffer.allocUnsafe(Math.max(16384, n));
    this.used = this.start = 0;
  }

  /** moves what the shared buffer holds since the last cut to the write list */
  private cut(): void {
    if (this.used > this.start) { this.out.push(this.scratch.subarray(this.start, this.used)); this.start = this.used; }
  }

  private schedule(): void {
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushing = false;
    this.cut();
    this.outBytes = 0;
    const out = this.out;
    if (!out.length || this.socket.destroyed) { this.out = []; return; }
    this.out = [];
    if (out.length === 1) this.socket.write(out[0]!);
    else {
      this.socket.cork();
      for (const b of out) this.socket.write(b);
      this.socket.uncork();
    }
    // written at once, no 'drain' will come: what the socket bound held back goes on now
    if (this.blocked.size && !this.socket.writableNeedDrain && this.socket.writableLength < SOCKET_HIGH_WATER) this.flushBlocked();
  }
}

function u32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}
