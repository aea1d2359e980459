// The front-thread end of a client-streaming (or bidi) call's request body: the client's
// chunks go to the worker as they arrive (transferred, never gathered whole), and the
// client's socket is paused while more than HIGH_WATER bytes are on their way but not yet
// taken by the gRPC stream — a fast client of a slow server holds bounded memory.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { BodySource } from '../server/types.js';

/** front → worker */
export type UploadEvent = { type: 'data'; chunk: ArrayBuffer } | { type: 'end' };
/** worker → front: bytes the gRPC stream took */
export type UploadControl = { type: 'consumed'; bytes: number };

const HIGH_WATER = 1024 * 1024;

export class UploadRelay {
  readonly workerPort: MessagePort;
  private readonly port: MessagePort;
  private inFlight = 0;
  private paused = false;
  private total = 0;

  /** `onTooLarge`: the body passed `maxBytes` (limits.maxBodyBytes); nothing more is sent. */
  constructor(body: BodySource | null, maxBytes: number, onTooLarge: () => void) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.workerPort = port2;
    port1.on('message', (c: UploadControl) => {
      this.inFlight -= c.bytes;
      if (this.paused && this.inFlight < HIGH_WATER / 2) { this.paused = false; body?.resume(); }
    });
    if (!body) { this.post({ type: 'end' }); return; }
    let over = false;
    body.onData((chunk, last) => {
      if (over) return;
      this.total += chunk.byteLength;
      if (this.total > maxBytes) { over = true; this.close(); onTooLarge(); return; }
      if (chunk.byteLength) {
        const ab = new ArrayBuffer(chunk.byteLength);
        new Uint8Array(ab).set(chunk); // the front end reuses its buffer
        this.inFlight += chunk.byteLength;
        this.post({ type: 'data', chunk: ab }, [ab]);
      }
      if (last) this.post({ type: 'end' });
      else if (this.inFlight >= HIGH_WATER && !this.paused) { this.paused = true; body.pause(); }
    });
  }

  private post(e: UploadEvent, transfer: ArrayBuffer[] = []): void {
    try { this.port.postMessage(e, transfer); } catch { /* closed */ }
  }

  /** The worker sees the port close and cancels the call. */
  close(): void {
    this.port.close();
  }
}
