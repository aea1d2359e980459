// The Piscina pool of a route table: started with the table, closed when a reload retires
// it (after its running calls), many calls in flight per worker. A full queue is a fast 503.
import { Piscina } from 'piscina';
import type { GatewayConfig } from '../config/types.js';
import type { PoolData, TranscodeResult, TranscodeTask } from './task.js';
import { configure, runCall } from './transcode-call.js';

const WORKER_FILE = new URL('./transcode-worker.js', import.meta.url).href;

export class QueueFullError extends Error {}

const CANCEL_SLOTS = 65536;

export class TranscodePool {
  private readonly pool: Piscina;
  /** calls in the pool (running or queued), and the most it takes: workers × per worker + queue */
  private active = 0;
  private readonly capacity: number;
  /** unary calls with a smaller request body run in the calling thread (no worker hop) */
  private readonly inlineBelow: number;
  /** Unary calls are cancelled through shared flags: a Piscina abort would kill the worker. */
  private readonly cancelBuffer = new SharedArrayBuffer(CANCEL_SLOTS * 4);
  private readonly cancelFlags = new Int32Array(this.cancelBuffer);
  private seq = 0;

  constructor(config: GatewayConfig) {
    const data: PoolData = { upstreams: {}, cancelFlags: this.cancelBuffer, maxMessageBytes: config.transcoding.maxMessageBytes };
    for (const [name, u] of Object.entries(config.upstreams)) {
      if (u.protocol !== 'grpc' || !u.protos) continue;
      // Weighted round-robin: a target appears `weight` times, spread over the cycle.
      const slots: string[] = [];
      const max = Math.max(...u.targets.map((t) => t.weight));
      for (let round = 0; round < max; round++) for (const t of u.targets) if (round < t.weight) slots.push(t.url!.replace(/\/+$/, ''));
      const tls = u.tls ? { ca: u.tls.ca, servername: u.tls.serverName, rejectUnauthorized: !u.tls.insecureSkipVerify } : undefined;
      data.upstreams[name] = { protos: u.protos, baseDir: '.', targets: slots, tls };
    }
    const t = config.transcoding;
    this.inlineBelow = t.inlineBelowBytes;
    if (this.inlineBelow > 0) configure(data, false); // this thread runs small calls itself
    this.capacity = t.workers * t.concurrentTasksPerWorker + t.maxQueue;
    this.pool = new Piscina({
      filename: WORKER_FILE,
      workerData: data,
      minThreads: t.workers,
      maxThreads: t.workers,
      concurrentTasksPerWorker: t.concurrentTasksPerWorker,
      idleTimeout: 2 ** 31 - 1,
      // 'sync' (the default) parks an idle worker in Atomics.wait: its event loop stops, so
      // gRPC frames (a cancel's RST_STREAM, keepalive pings, late replies) would wait for
      // the next task. Measured: a cancelled stream kept running on the server until then.
      atomics: 'async',
    });
  }

  /** A cancel handle for the next unary call: put `seq` in the task, call `cancel` if the client leaves. */
  cancellation(): { seq: number; cancel: () => void } {
    const seq = (this.seq = (this.seq % 0x7ffffffe) + 1);
    const slot = seq % CANCEL_SLOTS;
    Atomics.store(this.cancelFlags, slot, 0);
    return { seq, cancel: () => { Atomics.store(this.cancelFlags, slot, seq); } };
  }

  /** Rejects with QueueFullError at once when maxQueue calls are already waiting. */
  run(task: TranscodeTask): Promise<TranscodeResult> {
    if (this.active >= this.capacity) return Promise.reject(new QueueFullError('transcoding queue is full'));
    if (!task.stream && (task.body?.byteLength ?? 0) < this.inlineBelow) return runCall(task);
    this.active++;
    const release = () => { this.active--; };
    const transfer: Array<ArrayBuffer | import('node:worker_threads').MessagePort> = task.body ? [task.body] : [];
    if (task.stream) transfer.push(task.stream.port);
    const p = this.pool.run(task, { transferList: transfer as never }) as Promise<TranscodeResult>;
    p.then(release, release);
    return p;
  }

  get queueSize(): number { return this.pool.queueSize; }

  close(): Promise<void> { return this.pool.close(); }
  destroy(): Promise<void> { return this.pool.destroy(); }
}
