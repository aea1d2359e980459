// An in-thread stand-in for a MessageChannel, for a WebSocket bridge call run in the front
// thread (transcoding.inlineWebSocketBelowBytes, the default): the bridge and the call talk as they would across
// threads, but without a structured clone and an event-loop task per message. Delivery is a
// microtask — in order, never re-entrant; close() closes both ends, after what was posted.
import { EventEmitter } from 'node:events';
import type { MessagePort } from 'node:worker_threads';
import { log } from '../observability/logger.js';

class LocalPort extends EventEmitter {
  other!: LocalPort;
  closed = false;

  postMessage(message: unknown): void {
    if (this.closed) return;
    const to = this.other;
    queueMicrotask(() => {
      if (to.closed) return;
      // A listener's bug ends this channel (the bridge closes its socket, the call is
      // cancelled), never the process: a microtask's exception would be uncaught.
      try { to.emit('message', message); } catch (e) {
        log.error({ err: (e as Error).message, stack: (e as Error).stack }, 'an inline WebSocket bridge call failed');
        to.close();
      }
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const to = this.other;
    queueMicrotask(() => {
      try {
        this.emit('close');
        if (!to.closed) { to.closed = true; to.emit('close'); }
      } catch (e) { log.error({ err: (e as Error).message, stack: (e as Error).stack }, 'closing an inline WebSocket bridge call failed'); }
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
