// An in-thread stand-in for a MessageChannel, for a WebSocket bridge call run in the front
// thread (transcoding.inlineWebSocketBelowBytes, the default): the bridge and the call talk
// as they would across threads, but without a structured clone and an event-loop task per
// message. Delivery is in a microtask — in order, never re-entrant; close() closes both
// ends, after what was posted.
// Requests toward the calls (a `budgeted` channel's second end) are delivered at most
// MESSAGES_PER_TURN per event-loop turn; the rest (and, to keep one order, all that follows
// them) wait for the check phase, after node:http2 has sent what the first ones wrote.
// Without the bound, the 50 client messages one poll phase brings all went out in one
// HTTP/2 write at its end: the gRPC server idled while the gateway mapped them all, then the
// gateway idled while the server answered them all — a convoy, both cores ~20% idle under a
// closed-loop load (docs/transcoding.md § WebSocket bridge). Envoy bounds work per I/O cycle
// the same way (http.max_requests_per_io_cycle).
import { EventEmitter } from 'node:events';
import type { MessagePort } from 'node:worker_threads';
import { log } from '../observability/logger.js';

const CLOSE = Symbol('close');
/** Deliveries, as pairs (port, message or CLOSE), in the order posted across every channel of this thread. */
let queue: unknown[] = [];
let draining = false;
const resolved = Promise.resolve();
/** requests delivered per event-loop turn (4, 8, 16 and 32 measured alike; 16 keeps the extra turns few) */
export const MESSAGES_PER_TURN = 16;
/** budgeted deliveries this turn */
let used = 0;
/** a setImmediate will start the next turn's budget */
let turnTimer = false;
/** deliveries wait for the next turn */
let held = false;

function newTurn(): void {
  turnTimer = false;
  used = 0;
  if (held) { held = false; draining = true; drain(); }
}

// One microtask runs everything posted until it ends (what a delivery posts joins the run,
// after what was there): queueMicrotask would cost an AsyncResource per message.
function enqueue(port: LocalPort, message: unknown): void {
  queue.push(port, message);
  if (!draining && !held) { draining = true; void resolved.then(drain); }
}

function drain(): void {
  let i = 0;
  try {
    for (; i < queue.length; i += 2) {
      const port = queue[i] as LocalPort;
      if (port.budgeted && !port.closed && queue[i + 1] !== CLOSE) {
        if (used >= MESSAGES_PER_TURN) { held = true; break; }
        used++;
        if (!turnTimer) { turnTimer = true; setImmediate(newTurn); }
      }
      deliver(port, queue[i + 1]);
    }
  } finally {
    queue = i >= queue.length ? [] : queue.slice(i);
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
  /** what is delivered to this end counts toward MESSAGES_PER_TURN */
  budgeted = false;

  postMessage(message: unknown): void {
    if (!this.closed) enqueue(this.other, message);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    enqueue(this, CLOSE);
  }
}

/**
 * Two connected ends, typed as the MessagePorts they stand in for (only postMessage, close
 * and the message/close events are used). `budgeted`: what port1 posts to port2 is bounded
 * per event-loop turn (the requests of a bridge call).
 */
export function localChannel(budgeted = false): { port1: MessagePort; port2: MessagePort } {
  const a = new LocalPort();
  const b = new LocalPort();
  b.budgeted = budgeted;
  a.other = b;
  b.other = a;
  return { port1: a as unknown as MessagePort, port2: b as unknown as MessagePort };
}
