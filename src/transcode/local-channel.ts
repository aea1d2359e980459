// An in-thread stand-in for a MessageChannel, for a WebSocket bridge call run in the front
// thread (transcoding.inlineWebSocketBelowBytes, the default): the bridge and the call talk
// as they would across threads, but without a structured clone and an event-loop task per
// message. Delivery is in a microtask — in order, never re-entrant; close() closes both
// ends, after what was posted.
import { EventEmitter } from 'node:events';
import type { MessagePort } from 'node:worker_threads';
import { log } from '../observability/logger.js';

const CLOSE = Symbol('close');
/** Deliveries, as pairs (port, message or CLOSE), in the order posted across every channel of this thread. */
let queue: unknown[] = [];
let draining = false;
const resolved = Promise.resolve();

// One microtask runs everything posted until it ends (what a delivery posts joins the run,
// after what was there): queueMicrotask would cost an AsyncResource per message.
function enqueue(port: LocalPort, message: unknown): void {
  queue.push(port, message);
  if (!draining) { draining = true; void resolved.then(drain); }
}

function drain(): void {
  try {
    for (let i = 0; i < queue.length; i += 2) deliver(queue[i] as LocalPort, queue[i + 1]);
  } finally {
    queue = [];
    draining = false;
  }
}

function deliver(port: LocalPort, message: unknown): void {
  if (message === CLOSE) {
    const to = port.other;
    try {
      port.emit('close');
      if (!to.closed) { to.closed = true; to.emit('close'); }
    } catch (e) { log.error({ err: (e as Error).message, stack: (e as Error).stack }, 'closing an inline WebSocket bridge call failed'); }
    return;
  }
  if (port.closed) return;
  // A listener's bug ends this channel (the bridge closes its socket, the call is
  // cancelled), never the process: a microtask's exception would be uncaught.
  try { port.emit('message', message); } catch (e) {
    log.error({ err: (e as Error).message, stack: (e as Error).stack }, 'an inline WebSocket bridge call failed');
    port.close();
  }
}

class LocalPort extends EventEmitter {
  other!: LocalPort;
  closed = false;

  postMessage(message: unknown): void {
    if (!this.closed) enqueue(this.other, message);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    enqueue(this, CLOSE);
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
