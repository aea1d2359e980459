// How a front-end thread reaches the process's one transcoding pool: the pool itself when
// the front end runs in the main thread (TranscodeHost), or a MessagePort to the main
// thread from a front-end thread (RemoteTranscoder). Both answer a task with its result;
// a full pool rejects at once with QueueFullError.
import type { MessagePort } from 'node:worker_threads';
import type { PoolTask, ResultOf, TranscodeResult } from './task.js';
import { aggregateTransfers } from '../aggregate/aggregate-task.js';

export class QueueFullError extends Error {}

export interface Transcoder {
  /** Runs one task in the pool (its bodies and stream port are transferred). */
  run<T extends PoolTask>(task: T): Promise<ResultOf<T>>;
  /** The pool's owner only: sends a configuration to the workers, resolves its generation (null: no transcoding routes). */
  configure?(config: import('../config/types.js').GatewayConfig): Promise<number | null>;
}

/** The transfer list of a task: its bodies and its stream port move, they are not copied. */
export function transferOf(task: PoolTask): Array<ArrayBuffer | MessagePort> {
  if (task.kind === 'compose' || task.kind === 'pick') return aggregateTransfers(task);
  const list: Array<ArrayBuffer | MessagePort> = task.body ? [task.body] : [];
  if (task.stream) list.push(task.stream.port);
  if (task.upload) list.push(task.upload.port);
  if (task.socket) list.push(task.socket.port);
  return list;
}

/** Front thread → main thread → pool: one MessagePort, calls matched by id. */
export type BridgeRequest = { id: number; task: PoolTask };
export type BridgeReply = { id: number; result?: { body: ArrayBuffer }; error?: { queueFull: boolean; message: string } };

export class RemoteTranscoder implements Transcoder {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: never) => void; reject: (e: Error) => void }>();

  constructor(private readonly port: MessagePort) {
    port.on('message', (m: BridgeReply) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.result) w.resolve(m.result as never);
      else w.reject(m.error?.queueFull ? new QueueFullError(m.error.message) : new Error(m.error?.message ?? 'transcoding failed'));
    });
    port.unref();
  }

  run<T extends PoolTask>(task: T): Promise<ResultOf<T>> {
    const id = this.nextId++;
    return new Promise<ResultOf<T>>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      if (this.waiting.size === 1) this.port.ref();
      this.port.postMessage({ id, task } satisfies BridgeRequest, transferOf(task));
    }).finally(() => { if (this.waiting.size === 0) this.port.unref(); });
  }
}
