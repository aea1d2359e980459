// An in-thread stand-in for a MessageChannel, for a WebSocket bridge call run in the front
// thread (transcoding.inlineWebSockets): the bridge and the call talk as they would across
// threads, but without a structured clone and an event-loop task per message. Delivery is a
// microtask — in order, never re-entrant; close() closes both ends, after what was posted.
import { EventEmitter } from 'node:events';
import type { MessagePort } from 'node:worker_threads';

class LocalPort extends EventEmitter {
  other!: LocalPort;
  closed = false;

  postMessage(message: unknown): void {
    if (this.closed) return;
    const to = this.other;
    queueMicrotask(() => { if (!to.closed) to.emit('message', message); });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const to = this.other;
    queueMicrotask(() => {
      this.emit('close');
      if (!to.closed) { to.closed = true; to.emit('close'); }
    });
  }
}

/** Two connected ends, typed as the MessagePorts they stand in for (only postMessage, close and the message/close events are used). */
export function localChannel(): { port1: MessagePort; port2: MessagePort } {
  const a = new LocalPort();
  const b = new LocalPort();
  a.other = b;
  b.other = a;
  return { port1: a as unknown as MessagePort, port2: b as unknown as MessagePort };
}
