// Bridges a front end's request body to a Readable for the upstream client, with flow control both
// ways (push() false pauses the client; _read resumes it) and a byte limit.
import { Readable } from 'node:stream';
import { GatewayError } from '../errors.js';
import type { BodySource } from '../server/types.js';

export class RequestBodyStream extends Readable {
  private received = 0;

  constructor(private readonly source: BodySource, private readonly maxBytes: number) {
    super({ highWaterMark: 256 * 1024 });
    source.onData((chunk, last) => {
      if (this.destroyed) return;
      if (chunk.byteLength) {
        this.received += chunk.byteLength;
        if (this.received > this.maxBytes) {
          this.destroy(new GatewayError('payload_too_large', `request body exceeds ${this.maxBytes} bytes`));
          return;
        }
        // The front end reuses its buffer after the callback returns: copy.
        if (!this.push(Buffer.from(chunk))) source.pause();
      }
      if (last) this.push(null);
    });
  }

  override _read(): void {
    this.source.resume();
  }
}
