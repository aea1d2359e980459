// The front-thread end of a WebSocket ⇄ gRPC call (transcode.websocket, docs/transcoding.md
// § WebSocket bridge). Client frames become request messages on a port to the worker that
// runs the call; its answers come back on another port, one WebSocket message each. Both
// ways are under credits: a client that reads slowly holds the worker's messages back (and
// so the gRPC stream), a server that reads slowly pauses the client (node engine; uWS 20.30
// cannot pause a WebSocket, so there the client is closed with 1013 past a hard bound).
// Two framings: JSON text frames (an empty one half-closes), or improbable-eng's
// grpc-websockets binary protocol (a header frame first, then 0x00 + gRPC-framed bytes,
// 0x01 to half-close). Every callback is guarded: a bug closes this socket (1011).
// By default (transcoding.inlineWebSocketBelowBytes) the call runs in this thread, on in-thread channels.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { ClientSocket, ClientSocketEvents } from '../server/types.js';
import type { WebSocketSettings } from '../websocket/websocket-settings.js';
import type { RelayHooks } from '../websocket/relay.js';
import { sendableCode } from '../websocket/relay.js';
import { MessageRate } from '../websocket/message-rate.js';
import type { StreamControl, StreamEvent } from './task.js';
import type { UploadControl } from './upload-relay.js';
import { guarded, livenessTimer } from '../websocket/liveness.js';
import { log } from '../observability/logger.js';
import { localChannel } from './local-channel.js';

/** improbable-eng's grpc-web WebSocket transport */
export const GRPC_WEBSOCKETS = 'grpc-websockets';

/** front → worker: one request message (JSON mode: its text, a bare string — the cheapest thing to post), or the client half-closed */
export type SocketEvent = string | { type: 'message'; chunk: ArrayBuffer } | { type: 'end' };
/** worker → front: the call's events, and in JSON mode each answer message as a bare string */
export type BridgedEvent = StreamEvent | string;

/** bytes queued toward the client above which the worker's credits are held back */
const HIGH_WATER = 512 * 1024;
const LOW_WATER = 64 * 1024;
/** request bytes sent to the worker but not yet taken by the gRPC stream, above which the client is paused */
const IN_HIGH_WATER = 1024 * 1024;
/** credits go back to the worker in batches (its window is 32 messages): one port message per 16, not per message */
const CREDIT_BATCH = 16;

export class SocketBridge implements ClientSocketEvents {
  /** transferred to the worker: request messages (SocketEvent) */
  readonly workerIn: MessagePort;
  /** transferred to the worker: its answers (StreamEvent) */
  readonly workerOut: MessagePort;
  private readonly toWorker: MessagePort;
  private readonly fromWorker: MessagePort;
  private client: ClientSocket | null = null;
  private over = false;
  private finished = false;
  private ended = false;
  private inFlight = 0;
  private paused = false;
  private heldCredits = 0;
  private owedCredits = 0;
  private lastActivity = Date.now();
  private pongSeen = true;
  private timer: NodeJS.Timeout | null = null;
  private readonly rate: MessageRate;
  private readonly unpausableLimit: number;
  /** grpc-websockets: bytes of a request frame not yet whole */
  private partial: Buffer | null = null;

  /**
   * `single`: the method takes one request message (unary, server streaming): the request
   * half-closes after it. `onHeader`: grpc-websockets mode, called with the client's
   * header frame (the call starts then).
   */
  constructor(
    private readonly s: WebSocketSettings,
    readonly binary: boolean,
    private readonly single: boolean,
    private readonly hooks: RelayHooks,
    private readonly requestId: string,
    private onHeader: ((text: string) => void) | null,
    /** the call runs in this thread (transcoding.inlineWebSocketBelowBytes > 0): in-thread channels */
    local: boolean,
  ) {
    this.rate = new MessageRate(s.messagesPerSecond);
    this.unpausableLimit = Math.max(8 * 1024 * 1024, 2 * s.maxMessageBytes);
    const a = local ? localChannel(true) : new MessageChannel();
    const b = local ? localChannel() : new MessageChannel();
    this.toWorker = a.port1;
    this.workerIn = a.port2;
    this.fromWorker = b.port1;
    this.workerOut = b.port2;
    this.toWorker.on('message', this.guard((c: UploadControl) => this.consumed(c.bytes)));
    this.fromWorker.on('message', this.guard((e: BridgedEvent) => this.fromCall(e)));
  }

  /** The client was accepted. */
  attach(client: ClientSocket): void {
    this.client = client;
    this.timer = livenessTimer(this.s, this.guard(() => this.onTick()));
  }

  private guard<A extends unknown[]>(fn: (...a: A) => void): (...a: A) => void {
    return guarded(fn, (e) => this.crashed(e));
  }

  private crashed(e: Error): void {
    log.error({ err: e.message, stack: e.stack, requestId: this.requestId }, 'WebSocket bridge failed');
    this.endWith(1011, 'internal error');
  }

  // ---- client events (the engine calls these) ----

  message(data: Uint8Array, isBinary: boolean): void {
    if (this.over) return;
    try { this.fromClient(data, isBinary); } catch (e) { this.crashed(e as Error); }
  }

  drain(): void {
    if (this.over || !this.heldCredits || !this.client || this.client.bufferedAmount() > LOW_WATER) return;
    const n = this.heldCredits;
    this.heldCredits = 0;
    this.credit(n);
  }

  pong(): void { this.pongSeen = true; }

  /** The client closed (or dropped): the call is cancelled. */
  close(): void {
    this.over = true;
    this.finish();
  }

  /** The gateway ends the socket with `code` (the call, if any, is cancelled). */
  endWith(code: number, reason: string): void {
    if (this.over) return;
    this.over = true;
    this.client?.close(code, reason);
    this.finish();
  }

  // ---- client → call ----

  private fromClient(data: Uint8Array, isBinary: boolean): void {
    this.lastActivity = Date.now();
    if (data.byteLength > this.s.maxMessageBytes) { this.endWith(1009, `message larger than ${this.s.maxMessageBytes} bytes`); return; }
    if (!this.rate.take()) { this.endWith(1008, 'message rate exceeded'); return; }
    this.hooks.message('in', data.byteLength);
    if (this.binary) { this.fromGrpcWebsockets(data, isBinary); return; }
    if (isBinary) { this.endWith(1003, 'JSON messages come in text frames (binary frames need the grpc-websockets subprotocol)'); return; }
    if (data.byteLength === 0) this.endRequest();
    else this.request(data);
  }

  private fromGrpcWebsockets(data: Uint8Array, isBinary: boolean): void {
    if (!isBinary) { this.endWith(1003, 'the grpc-websockets protocol takes binary frames'); return; }
    if (this.onHeader) {
      const start = this.onHeader;
      this.onHeader = null;
      start(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1'));
      return;
    }
    if (data.byteLength === 1 && data[0] === 1) { this.endRequest(); return; }
    if (data.byteLength === 0 || data[0] !== 0) { this.endWith(1002, 'a grpc-websockets message starts with 0 (data) or is the single byte 1 (end of the request)'); return; }
    // The bytes after the 0 are the gRPC request stream: frames may span messages.
    const rest = Buffer.from(data.subarray(1)); // the engine's bytes are only valid now
    let buf = this.partial ? Buffer.concat([this.partial, rest]) : rest;
    while (buf.length >= 5) {
      if (buf[0] !== 0) { this.endWith(1002, buf[0] === 1 ? 'compressed request messages are not supported' : 'a request frame has an unknown flag'); return; }
      const len = buf.readUInt32BE(1);
      if (len > this.s.maxMessageBytes) { this.endWith(1009, `request message larger than ${this.s.maxMessageBytes} bytes`); return; }
      if (buf.length < 5 + len) break;
      this.request(buf.subarray(5, 5 + len));
      if (this.over) return;
      buf = buf.subarray(5 + len);
    }
    this.partial = buf.length ? buf : null;
  }

  private request(msg: Uint8Array): void {
    if (this.ended) { this.endWith(4003, this.single ? 'this method takes one request message' : 'a message after the request was half-closed'); return; }
    this.inFlight += msg.byteLength;
    if (this.binary) {
      const ab = new ArrayBuffer(msg.byteLength);
      new Uint8Array(ab).set(msg);
      this.post({ type: 'message', chunk: ab }, [ab]);
    } else {
      // text frames are valid UTF-8 (both engines refuse others): the string round-trips byte for byte
      this.post(Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength).toString('utf8'));
    }
    if (this.single) { this.endRequest(); return; }
    if (this.inFlight < IN_HIGH_WATER) return;
    const c = this.client!;
    if (c.pause) { if (!this.paused) { this.paused = true; c.pause(); } }
    else if (this.inFlight > this.unpausableLimit) this.endWith(1013, 'the upstream is not keeping up');
  }

  private endRequest(): void {
    if (this.ended) return;
    this.ended = true;
    this.post({ type: 'end' });
  }

  private consumed(bytes: number): void {
    this.inFlight -= bytes;
    if (this.paused && this.inFlight < IN_HIGH_WATER / 2) { this.paused = false; this.client?.resume?.(); }
  }

  private post(e: SocketEvent, transfer: ArrayBuffer[] = []): void {
    try { this.toWorker.postMessage(e, transfer); } catch { /* closed */ }
  }

  // ---- call → client ----

  private fromCall(e: BridgedEvent): void {
    if (this.over || !this.client) return;
    if (typeof e === 'string') this.deliver(e, Buffer.byteLength(e));
    else if (e.type === 'data') this.deliver(new Uint8Array(e.chunk), e.chunk.byteLength);
    else if (e.type === 'close') this.endWith(sendableCode(e.code) ? e.code : 1011, e.reason);
  }

  /** One message to the client; its credit goes back to the call unless the client is behind. */
  private deliver(data: string | Uint8Array, bytes: number): void {
    this.lastActivity = Date.now();
    this.hooks.message('out', bytes);
    const c = this.client!;
    if (c.send(data, typeof data !== 'string' && this.binary) && c.bufferedAmount() <= HIGH_WATER) this.credit(1);
    else this.heldCredits++;
  }

  private credit(n: number): void {
    this.owedCredits += n;
    if (this.owedCredits < CREDIT_BATCH) return;
    try { this.fromWorker.postMessage({ type: 'credit', n: this.owedCredits } satisfies StreamControl); } catch { /* closed */ }
    this.owedCredits = 0;
  }

  private onTick(): void {
    if (this.over) return;
    if (Date.now() - this.lastActivity >= this.s.idleTimeoutMs) { this.endWith(1001, 'idle timeout'); return; }
    if (!this.s.pingIntervalMs) return;
    if (!this.pongSeen) { this.over = true; this.client?.terminate(); this.finish(); return; }
    this.pongSeen = false;
    this.client?.ping();
  }

  /** Once: the ports close (the worker cancels a call still running), the route's count drops. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer) { clearInterval(this.timer); this.timer = null; }
    this.toWorker.close();
    this.fromWorker.close();
    this.hooks.closed();
  }
}
