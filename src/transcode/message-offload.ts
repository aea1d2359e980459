// A WebSocket bridge call run in the front thread (transcoding.inlineWebSocketBelowBytes,
// docs/transcoding.md § WebSocket bridge) maps its small messages there and hands a large
// one to the pool, as the design asks of CPU work that grows with the payload. InOrder keeps
// each direction's messages in their order while a large one is away: what follows it waits.
import type { GrpcStatus } from './grpc-h2-client.js';
import type { TranscodeResult, TranscodeTask } from './task.js';
import { QueueFullError, type Transcoder } from './transcoder.js';

/** A mapped message: its bytes (protobuf when encoding, JSON when decoding), or why it failed. */
export type Mapped = { bytes: Uint8Array } | { error: GrpcStatus };

/** What the front thread gives a bridge call it runs: the threshold, and the pool for the messages at or above it. */
export interface MessageOffload {
  readonly above: number;
  /** `way`: a request's JSON → protobuf, or an answer's protobuf → JSON; never rejects */
  map(task: TranscodeTask, way: 'encode' | 'decode', bytes: Uint8Array): Promise<Mapped>;
  /** an inline unary call's answer message → its HTTP answer (without the call's metadata headers); rejects as the pool does */
  answer(task: TranscodeTask, message: Uint8Array): Promise<TranscodeResult>;
}

const failed = (code: number, details: string): Mapped => ({ error: { code, details, metadata: [] } });

export function poolOffload(transcoder: Transcoder, above: number): MessageOffload {
  const mapTask = (task: TranscodeTask, way: 'encode' | 'decode' | 'answer', bytes: Uint8Array): Promise<TranscodeResult> => {
    const body = new ArrayBuffer(bytes.byteLength);
    new Uint8Array(body).set(bytes);
    // only what the mapping reads: the call's ports stay with the call
    return transcoder.run({
      kind: 'call', mapOnly: way, gen: task.gen, upstream: task.upstream, binding: task.binding, vars: task.vars, query: '', body,
      metadata: [], deadline: task.deadline, emitDefaults: task.emitDefaults, useProtoNames: task.useProtoNames, enumsAsInts: task.enumsAsInts,
    });
  };
  return {
    above,
    map: async (task, way, bytes) => {
      try {
        const r = await mapTask(task, way, bytes);
        if (r.status === 200) return { bytes: new Uint8Array(r.body) };
        return failed(3, Buffer.from(r.body).toString());
      } catch (e) {
        return e instanceof QueueFullError ? failed(14, 'transcoding is saturated; try again') : failed(13, 'the gateway could not map the message');
      }
    },
    answer: (task, message) => mapTask(task, 'answer', message),
  };
}

/**
 * Steps run in the order they were pushed. With nothing waiting, a step whose work is a
 * value runs at once (the small-message path costs no promise); work that is a promise, and
 * everything pushed after it, runs when it settles.
 */
export class InOrder {
  private waiting = 0;
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly onError: (e: Error) => void) {}

  push<T>(work: T | Promise<T>, step: (v: T) => void): void {
    if (this.waiting === 0 && !(work instanceof Promise)) { step(work); return; }
    this.waiting++;
    // handled now (its turn may come later): a rejection is never "unhandled" meanwhile
    if (work instanceof Promise) work.catch(() => undefined);
    this.tail = this.tail.then(() => work).then((v) => {
      this.waiting--;
      try { step(v); } catch (e) { this.onError(e as Error); }
    }, (e: Error) => { this.waiting--; this.onError(e); });
  }
}
