// The front-thread end of a server-streaming transcoded call: events from the worker's port
// become a chunked HTTP response (NDJSON or SSE); every chunk written returns one credit to
// the worker — at once, or when the client's socket drains — so a slow client slows the
// gRPC stream instead of filling memory. A client that goes away cancels the gRPC call.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { ResponseSink } from '../server/types.js';
import type { StreamControl, StreamEvent } from './task.js';

export class StreamRelay {
  readonly workerPort: MessagePort;
  private readonly port: MessagePort;
  sse = false;
  private waitingDrain = 0;

  constructor(sink: ResponseSink, requestId: string, extra: string[] | null) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.workerPort = port2;
    port1.on('message', (e: StreamEvent) => {
      if (e.type === 'head') {
        const h = [...e.headers, 'x-request-id', requestId, 'cache-control', 'no-cache'];
        if (extra) h.push(...extra);
        sink.start(e.status, h, -1, false);
        sink.onDrain(() => {
          const n = this.waitingDrain;
          this.waitingDrain = 0;
          if (n) this.control({ type: 'credit', n });
        });
      } else if (e.type === 'data') {
        if (sink.write(new Uint8Array(e.chunk))) this.control({ type: 'credit', n: 1 });
        else this.waitingDrain++;
      } else if (e.type === 'abort') {
        sink.destroy();
        this.close();
      } else {
        sink.end();
        this.close();
      }
    });
  }

  private control(c: StreamControl): void {
    try { this.port.postMessage(c); } catch { /* closed */ }
  }

  /** The worker cancels the call and closes the channel (closing here could drop the message). */
  cancel(): void {
    this.control({ type: 'cancel' });
  }

  close(): void {
    this.port.close();
  }
}
