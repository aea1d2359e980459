// A request body read while the gateway is still deciding (e.g. verifying a token): the
// front end delivers data as it arrives, so it is kept here and replayed to the reader
// attached later. Above HOLD_BYTES the client is paused until that reader takes over.
import type { BodySource } from '../server/types.js';

const HOLD_BYTES = 64 * 1024;

export class HeldBody implements BodySource {
  private chunks: Buffer[] = [];
  private size = 0;
  private ended = false;
  private reader: ((chunk: Uint8Array, last: boolean) => void) | null = null;
  private heldPaused = false;
  private readerPaused = false;

  constructor(private readonly src: BodySource) {
    src.onData((chunk, last) => {
      if (this.reader) { this.reader(chunk, last); return; }
      if (chunk.byteLength) this.chunks.push(Buffer.from(chunk));
      this.size += chunk.byteLength;
      if (last) this.ended = true;
      if (this.size > HOLD_BYTES && !this.heldPaused) { this.heldPaused = true; src.pause(); }
    });
  }

  onData(cb: (chunk: Uint8Array, last: boolean) => void): void {
    queueMicrotask(() => {
      const chunks = this.chunks;
      this.chunks = [];
      for (let i = 0; i < chunks.length; i++) cb(chunks[i]!, this.ended && i === chunks.length - 1);
      if (this.ended && chunks.length === 0) cb(new Uint8Array(0), true);
      this.reader = cb;
      if (this.heldPaused) {
        this.heldPaused = false;
        if (!this.readerPaused) this.src.resume();
      }
    });
  }

  pause(): void { this.readerPaused = true; this.src.pause(); }
  resume(): void {
    this.readerPaused = false;
    if (!this.heldPaused) this.src.resume();
  }
}
