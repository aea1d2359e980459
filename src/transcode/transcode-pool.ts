// The Piscina pool of a route table: started with the table, closed when a reload retires
// it (after its running calls), many calls in flight per worker. A full queue is a fast 503.
import { Piscina } from 'piscina';
import type { GatewayConfig } from '../config/types.js';
import type { PoolData, TranscodeResult, TranscodeTask } from './task.js';

const WORKER_FILE = new URL('./transcode-worker.js', import.meta.url).href;

export class TranscodePool {
  private readonly pool: Piscina;

  constructor(config: GatewayConfig) {
    const data: PoolData = { upstreams: {} };
    for (const [name, u] of Object.entries(config.upstreams)) {
      if (u.protocol !== 'grpc' || !u.protos) continue;
      data.upstreams[name] = { protos: u.protos, baseDir: '.', targets: u.targets.map((t) => new URL(t.url!).host) };
    }
    const t = config.transcoding;
    this.pool = new Piscina({
      filename: WORKER_FILE,
      workerData: data,
      minThreads: t.workers,
      maxThreads: t.workers,
      concurrentTasksPerWorker: t.concurrentTasksPerWorker,
      maxQueue: t.maxQueue,
      idleTimeout: 2 ** 31 - 1,
    });
  }

  /** Rejects with QueueFullError when maxQueue calls are already waiting. */
  run(task: TranscodeTask, signal: AbortSignal): Promise<TranscodeResult> {
    const transfer = task.body ? [task.body] : [];
    return this.pool.run(task, { signal, transferList: transfer }) as Promise<TranscodeResult>;
  }

  get queueSize(): number { return this.pool.queueSize; }

  close(): Promise<void> { return this.pool.close(); }
  destroy(): Promise<void> { return this.pool.destroy(); }
}
