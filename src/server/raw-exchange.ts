// The node engine's Upgrade requests. node:http hands every request with an Upgrade header
// to the 'upgrade' event (h2c, websocket, anything) and forgets the socket, so the answer
// is written here by hand: the same ResponseSink, always with Connection: close. A valid
// WebSocket handshake also gets `upgrade`, accepted through the ws package.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { statusLine } from './status-line.js';
import { MAX_WEBSOCKET_MESSAGE_BYTES, offeredProtocols, type ClientSocket, type ClientSocketEvents, type RequestHead, type ResponseSink, type WebSocketUpgrade } from './types.js';

/** below this many queued bytes a client socket counts as drained */
const DRAINED_BYTES = 64 * 1024;

export class RawExchange implements ResponseSink {
  aborted = false;
  responded = false;
  status = 0;
  bytesIn = 0;
  bytesOut = 0;
  upgrade?: WebSocketUpgrade;
  private done = false;
  private chunked = false;
  private abortCbs: Array<() => void> | null = null;
  private finishedCb: (() => void) | null = null;
  private drainCb: (() => void) | null = null;
  private readonly onClose = () => {
    if (!this.done) {
      this.aborted = true;
      const cbs = this.abortCbs;
      this.abortCbs = null;
      if (cbs) for (const cb of cbs) cb();
    }
    this.finish();
  };
  private readonly onDrainEvent = () => this.drainCb?.();

  constructor(private readonly socket: Socket) {
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrainEvent);
    socket.on('error', () => { /* 'close' follows */ });
  }

  private get over(): boolean { return this.aborted || this.done; }

  private finish(): void {
    this.done = true;
    const cb = this.finishedCb;
    this.finishedCb = null;
    cb?.();
  }

  onAborted(cb: () => void): void { (this.abortCbs ??= []).push(cb); }
  onFinished(cb: () => void): void { this.finishedCb = cb; }
  onDrain(cb: () => void): void { this.drainCb = cb; }

  private head(status: number, headers: string[], extra: string): string {
    let out = `HTTP/1.1 ${statusLine(status)}\r\n`;
    for (let i = 0; i < headers.length; i += 2) out += `${headers[i]}: ${headers[i + 1]}\r\n`;
    return out + extra + 'connection: close\r\n\r\n';
  }

  sendFull(status: number, headers: string[], body: string | Uint8Array): void {
    if (this.over || this.responded) return;
    this.responded = true;
    this.status = status;
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    this.bytesOut = bytes.byteLength;
    this.socket.write(this.head(status, headers, `content-length: ${bytes.byteLength}\r\n`));
    this.socket.end(bytes);
    this.finish();
  }

  start(status: number, headers: string[], contentLength: number, headless: boolean): void {
    if (this.over || this.responded) return;
    this.responded = true;
    this.status = status;
    this.chunked = contentLength < 0 && !headless;
    const framing = contentLength >= 0 ? `content-length: ${contentLength}\r\n` : this.chunked ? 'transfer-encoding: chunked\r\n' : '';
    this.socket.write(this.head(status, headers, framing));
    if (headless) { this.socket.end(); this.finish(); }
  }

  write(chunk: Uint8Array): boolean {
    if (this.over || !this.responded || chunk.byteLength === 0) return true;
    this.bytesOut += chunk.byteLength;
    const copy = Buffer.from(chunk); // the caller may reuse chunk
    if (!this.chunked) return this.socket.write(copy);
    this.socket.write(`${chunk.byteLength.toString(16)}\r\n`);
    this.socket.write(copy);
    return this.socket.write('\r\n');
  }

  end(): void {
    if (this.over) return;
    if (!this.responded) this.start(200, [], 0, false);
    if (this.chunked) this.socket.end('0\r\n\r\n'); else this.socket.end();
    this.finish();
  }

  destroy(): void {
    if (this.over) return;
    this.aborted = true;
    this.socket.destroy();
  }

  /** Hands the socket to ws: this exchange is over (101), the WebSocket lives on. */
  accept(req: IncomingMessage, rest: Buffer, servers: WebSocketServers, protocol: string | null, compress: boolean, events: ClientSocketEvents): ClientSocket | null {
    if (this.over || this.responded) return null;
    this.responded = true;
    this.status = 101;
    this.socket.off('close', this.onClose);
    this.socket.off('drain', this.onDrainEvent);
    this.finish();
    const client = new NodeClientSocket(events, servers.open);
    (req as IncomingMessage & { [CHOSEN]?: string | false })[CHOSEN] = protocol ?? false;
    (compress ? servers.deflate : servers.plain).handleUpgrade(req, this.socket, rest, (ws: WebSocket) => client.opened(ws));
    return client;
  }
}

const CHOSEN = Symbol('chosen subprotocol');

/** The ws servers the node engine upgrades with (with and without permessage-deflate), and the open sockets. */
export interface WebSocketServers { plain: WebSocketServer; deflate: WebSocketServer; open: Set<NodeClientSocket> }

export function webSocketServers(): WebSocketServers {
  const options = {
    noServer: true, clientTracking: false, maxPayload: MAX_WEBSOCKET_MESSAGE_BYTES,
    // the route chose the subprotocol (the upstream's answer) before the upgrade
    handleProtocols: (_offered: Set<string>, req: IncomingMessage) => (req as IncomingMessage & { [CHOSEN]?: string | false })[CHOSEN] ?? false,
  };
  return { plain: new WebSocketServer({ ...options, perMessageDeflate: false }), deflate: new WebSocketServer({ ...options, perMessageDeflate: true }), open: new Set() };
}

const BINARY = { binary: true } as const;
const TEXT = { binary: false } as const;

/** The upgrade side of a request that is a valid WebSocket handshake (websocket-handshake.ts). */
export function webSocketUpgradeOf(req: IncomingMessage, head: RequestHead, rest: Buffer, ex: RawExchange, servers: WebSocketServers): WebSocketUpgrade {
  return { protocols: offeredProtocols(head.rawHeaders), accept: (protocol, compress, events) => ex.accept(req, rest, servers, protocol, compress, events) };
}

/** A client WebSocket on the node engine (the ws package). */
class NodeClientSocket implements ClientSocket {
  private ws: WebSocket | null = null;
  private wantsDrain = false;
  private readonly afterSend = () => {
    if (this.wantsDrain && this.ws && this.ws.bufferedAmount <= DRAINED_BYTES) { this.wantsDrain = false; this.events.drain(); }
  };

  constructor(private readonly events: ClientSocketEvents, private readonly open: Set<NodeClientSocket>) {}

  opened(ws: WebSocket): void {
    this.ws = ws;
    this.open.add(this);
    ws.on('message', (data: Buffer, isBinary: boolean) => this.events.message(data, isBinary));
    ws.on('pong', () => this.events.pong());
    ws.on('error', () => { /* 'close' follows */ });
    ws.on('close', (code: number, reason: Buffer) => {
      this.ws = null;
      this.open.delete(this);
      this.events.close(code, reason.toString('utf8'));
    });
  }

  send(data: Uint8Array | string, binary: boolean): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return true;
    // A write callback only when this send leaves bytes queued (it reports the drain).
    if (!this.wantsDrain && ws.bufferedAmount + (typeof data === 'string' ? data.length : data.byteLength) > DRAINED_BYTES) this.wantsDrain = true;
    ws.send(data, binary ? BINARY : TEXT, this.wantsDrain ? this.afterSend : undefined);
    return !this.wantsDrain;
  }
  bufferedAmount(): number { return this.ws ? this.ws.bufferedAmount : 0; }
  readonly pause = (): void => { this.ws?.pause(); };
  readonly resume = (): void => { this.ws?.resume(); };
  ping(): void { if (this.ws?.readyState === WebSocket.OPEN) this.ws.ping(); }
  close(code: number, reason: string): void { if (this.ws?.readyState === WebSocket.OPEN) this.ws.close(code, reason); }
  terminate(): void { this.ws?.terminate(); }
}
