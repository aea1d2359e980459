// Frames between an accepted client WebSocket and its upstream WebSocket (the ws package),
// both ways, with backpressure: a client that reads slowly stops the gateway reading the
// upstream, and an upstream that reads slowly stops the gateway reading the client (on
// the node engine; uWS 20.30 cannot pause a WebSocket, so there the client is closed
// with 1013 once the upstream has fallen too far behind). Close codes pass through; the
// route's message size, message rate, idle and ping limits apply. Every callback is
// guarded: a bug closes this one connection (1011), never the process.
import { WebSocket } from 'ws';
import type { ClientSocket, ClientSocketEvents } from '../server/types.js';
import type { WebSocketSettings } from './websocket-settings.js';
import { guarded, livenessTimer } from './liveness.js';
import { log } from '../observability/logger.js';
import { MessageRate } from './message-rate.js';

/** queued bytes toward a side above which the other side is no longer read */
const HIGH_WATER = 512 * 1024;
/** and below which it is read again */
const LOW_WATER = 64 * 1024;

const BINARY = { binary: true } as const;
const TEXT = { binary: false } as const;

/** May this close code be sent in a close frame (RFC 6455 7.4)? 1005 and 1006 only describe one. */
export function sendableCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/** What the relay reports as it ends (metrics, the route's open count). */
export interface RelayHooks {
  closed(): void;
  message(direction: 'in' | 'out', bytes: number): void;
}

export class WebSocketRelay implements ClientSocketEvents {
  client: ClientSocket | null = null;
  private over = false;
  private clientPaused = false;
  private upstreamPaused = false;
  private lastActivity = Date.now();
  private clientPong = true;
  private upstreamPong = true;
  private timer: NodeJS.Timeout | null = null;
  private readonly rate: MessageRate;
  private readonly unpausableLimit: number;
  /** the close code for the client after the upstream broke the protocol (0: it did not) */
  private upstreamFault = 0;

  constructor(private readonly upstream: WebSocket, private readonly s: WebSocketSettings, private readonly hooks: RelayHooks, private readonly requestId: string) {
    this.rate = new MessageRate(s.messagesPerSecond);
    this.unpausableLimit = Math.max(8 * 1024 * 1024, 2 * s.maxMessageBytes);
  }

  /** The client was accepted: start relaying. */
  attach(client: ClientSocket): void {
    this.client = client;
    const up = this.upstream;
    up.on('message', this.guard((data: Buffer, isBinary: boolean) => this.fromUpstream(data, isBinary)));
    up.on('pong', () => { this.upstreamPong = true; });
    up.on('close', this.guard((code: number, reason: Buffer) => this.upstreamClosed(code, reason.toString('utf8'))));
    up.on('error', (e: Error & { code?: string }) => {
      // ws fails the upstream side on a protocol error, then reports close 1006: keep why.
      this.upstreamFault = e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 1009 : 1014;
      log.debug({ err: e.message, requestId: this.requestId }, 'upstream WebSocket error');
    });
    this.timer = livenessTimer(this.s, this.guard(() => this.onTick()));
  }

  private guard<A extends unknown[]>(fn: (...a: A) => void): (...a: A) => void {
    return guarded(fn, (e) => this.crashed(e));
  }

  /** A bug in the relay: this one connection ends (1011), logged. */
  private crashed(e: Error): void {
    log.error({ err: e.message, stack: e.stack, requestId: this.requestId }, 'WebSocket relay failed');
    this.end(1011, 'internal error', 1011, 'internal error');
  }

  // ---- client events (the engine calls these) ----

  message(data: Uint8Array, binary: boolean): void {
    if (this.over) return;
    try { this.fromClient(data, binary); } catch (e) { this.crashed(e as Error); } // no closure per message
  }

  drain(): void {
    if (this.over || !this.upstreamPaused || !this.client) return;
    if (this.client.bufferedAmount() <= LOW_WATER) { this.upstreamPaused = false; this.upstream.resume(); }
  }

  pong(): void { this.clientPong = true; }

  close(code: number, reason: string): void {
    if (this.over) { this.finish(); return; }
    this.over = true;
    // The client's code goes upstream; a dropped client is "going away".
    if (sendableCode(code)) this.closeUpstream(code, reason);
    else if (code === 1005) this.closeUpstream(null, '');
    else this.closeUpstream(1001, 'the client went away');
    this.finish();
  }

  // ---- relaying ----

  private fromClient(data: Uint8Array, binary: boolean): void {
    this.lastActivity = Date.now();
    if (data.byteLength > this.s.maxMessageBytes) { this.end(1009, `message larger than ${this.s.maxMessageBytes} bytes`, 1001, 'the client sent a message too large'); return; }
    if (!this.rate.take()) { this.end(1008, 'message rate exceeded', 1001, 'the client exceeded its message rate'); return; }
    const up = this.upstream;
    if (up.readyState !== WebSocket.OPEN) return;
    this.hooks.message('in', data.byteLength);
    const c = this.client!;
    if (c.pause && !this.clientPaused && up.bufferedAmount + data.byteLength > HIGH_WATER) { this.clientPaused = true; c.pause(); }
    // Copied: the engine's bytes are only valid now. A write callback only while the client
    // is paused (it resumes the client): without one, ws's hot path is cheaper.
    up.send(Buffer.from(data), binary ? BINARY : TEXT, this.clientPaused ? this.upstreamWritten : undefined);
    if (!c.pause && up.bufferedAmount > this.unpausableLimit) this.end(1013, 'the upstream is not keeping up', 1001, 'the upstream is not keeping up');
  }

  private readonly upstreamWritten = (): void => {
    if (this.over || !this.clientPaused || this.upstream.bufferedAmount > LOW_WATER) return;
    this.clientPaused = false;
    this.client?.resume?.();
  };

  private fromUpstream(data: Buffer, isBinary: boolean): void {
    if (this.over || !this.client) return;
    this.lastActivity = Date.now();
    this.hooks.message('out', data.byteLength);
    this.client.send(data, isBinary);
    if (!this.upstreamPaused && this.client.bufferedAmount() > HIGH_WATER) { this.upstreamPaused = true; this.upstream.pause(); }
  }

  private upstreamClosed(code: number, reason: string): void {
    if (this.over) { this.finish(); return; }
    this.over = true;
    // After a protocol error of the upstream (too big: 1009; anything else: 1014, bad
    // gateway); 1006: the upstream vanished without a close frame.
    if (this.upstreamFault) this.client?.close(this.upstreamFault, this.upstreamFault === 1009 ? 'the upstream sent a message too large' : 'the upstream broke the WebSocket protocol');
    else if (sendableCode(code)) this.client?.close(code, reason);
    else if (code === 1005) this.client?.close(1000, '');
    else this.client?.close(1011, 'the upstream connection was lost');
    this.finish();
  }

  private onTick(): void {
    if (this.over) return;
    if (Date.now() - this.lastActivity >= this.s.idleTimeoutMs) { this.end(1001, 'idle timeout', 1001, 'idle timeout'); return; }
    if (!this.s.pingIntervalMs) return;
    if (!this.clientPong) { this.over = true; this.client?.terminate(); this.closeUpstream(1001, 'the client stopped answering pings'); this.finish(); return; }
    if (!this.upstreamPong) { this.over = true; this.client?.close(1011, 'the upstream stopped answering pings'); this.upstream.terminate(); this.finish(); return; }
    this.clientPong = this.upstreamPong = false;
    this.client?.ping();
    if (this.upstream.readyState === WebSocket.OPEN) this.upstream.ping();
  }

  /** The gateway ends the connection: the client gets `clientCode`, the upstream `upCode`. */
  private end(clientCode: number, clientReason: string, upCode: number, upReason: string): void {
    if (this.over) return;
    this.over = true;
    this.client?.close(clientCode, clientReason);
    this.closeUpstream(upCode, upReason);
    this.finish();
  }

  /** null: a close frame without a code (the client sent none) */
  private closeUpstream(code: number | null, reason: string): void {
    const up = this.upstream;
    if (up.readyState === WebSocket.OPEN) {
      if (this.upstreamPaused) up.resume(); // the close handshake needs the socket read
      if (code === null) up.close(); else up.close(code, reason);
    } else if (up.readyState === WebSocket.CONNECTING) up.terminate();
  }

  private finished = false;
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer) { clearInterval(this.timer); this.timer = null; }
    this.hooks.closed();
  }
}
