// The process's one transcoding pool, owned by the main thread: `transcoding.workers`
// Piscina workers in total, however many front-end threads there are (they reach it
// through MessagePorts: serve()). The pool outlives reloads: a reload sends the new
// configuration (a "generation") to every worker, which compiles it at once and says so;
// the reload fails if one cannot. Tasks name their generation, so requests that started
// before a reload finish with the configuration they were routed with.
import { BroadcastChannel, MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { GatewayConfig } from '../config/types.js';
import { log } from '../observability/logger.js';
import type { MetricsShare } from '../observability/observer.js';
import type { PoolData, PoolMessage, PoolTask, ResultOf, WorkerSetup } from './task.js';
import { poolDataOf, usesPool } from './pool-data.js';
import { allocateCancelFlags } from './cancellation.js';
import { allocateGrpcTargetState } from './grpc-target-state.js';
import { QueueFullError, transferOf, type BridgeReply, type BridgeRequest, type Transcoder } from './transcoder.js';

const WORKER_FILE = new URL('./transcode-worker.js', import.meta.url).href;
const ACK_TIMEOUT_MS = 30_000;
/** generations a new worker is given at start (the same number the workers keep) */
const KEEP = 4;

let channelSeq = 0;

export class TranscodeHost implements Transcoder {
  readonly cancelFlags = allocateCancelFlags();
  /** gRPC targets' shared state: the workers and inline calls count into it, the health checks write it */
  readonly grpcTargets = allocateGrpcTargetState();
  private pool: Piscina | null = null;
  private readonly channelName = `gateway-transcoding-${process.pid}-${++channelSeq}`;
  private readonly channel = new BroadcastChannel(this.channelName);
  private readonly recent: Array<[number, PoolData]> = [];
  private gen = 0;
  private active = 0;
  private capacity = 0;
  private settings: GatewayConfig['transcoding'] | null = null;
  private readonly acks = new Map<number, { want: number; got: Set<number>; done: (err?: Error) => void }>();

  /** `metrics`: the process's shared metrics, counted by the workers too */
  constructor(private readonly metrics: MetricsShare | null = null) {
    this.channel.unref();
    this.channel.onmessage = (ev) => this.onPoolMessage((ev as unknown as { data: PoolMessage }).data);
  }

  /** The newest configuration sent to the workers (0: none yet). */
  get generation(): number { return this.gen; }

  /** Workers (0 until a configuration with transcoding routes arrived). */
  get workers(): number { return this.pool?.threads.length ?? 0; }

  /** For /metrics: tasks waiting for a worker, tasks running, and the pool's utilisation (0–1, Piscina's). */
  stats(): { queued: number; running: number; utilization: number } {
    const p = this.pool;
    return { queued: p?.queueSize ?? 0, running: this.active, utilization: p ? p.utilization : 0 };
  }

  private onPoolMessage(m: PoolMessage): void {
    if (m.type === 'hello') {
      // A worker that started after some generations (Piscina replaced one): resend them.
      for (const [gen, data] of this.recent) this.channel.postMessage({ type: 'configure', gen, data } satisfies PoolMessage);
      return;
    }
    if (m.type !== 'ack') return;
    const w = this.acks.get(m.gen);
    if (!w) return;
    if (m.error) { this.acks.delete(m.gen); w.done(new Error(`a transcoding worker cannot compile the new configuration: ${m.error}`)); return; }
    w.got.add(m.worker);
    if (w.got.size >= w.want) { this.acks.delete(m.gen); w.done(); }
  }

  private start(t: GatewayConfig['transcoding']): Piscina {
    this.settings = t;
    this.capacity = t.workers * t.concurrentTasksPerWorker + t.maxQueue;
    const setup: WorkerSetup = { cancelFlags: this.cancelFlags, channel: this.channelName, generations: [...this.recent], metrics: this.metrics };
    return new Piscina({
      filename: WORKER_FILE,
      workerData: setup,
      minThreads: t.workers,
      maxThreads: t.workers,
      concurrentTasksPerWorker: t.concurrentTasksPerWorker,
      idleTimeout: 2 ** 31 - 1,
      // 'sync' (the default) parks an idle worker in Atomics.wait: its event loop stops, so
      // gRPC frames (a cancel's RST_STREAM, keepalive pings, late replies) and new
      // configurations would wait for the next task. Measured: a cancelled stream kept
      // running on the server until then.
      atomics: 'async',
    });
  }

  /**
   * Sends `config`'s transcoding setup to every worker and resolves its generation once all
   * compiled it (the pool starts with the first configuration that needs it). null: the
   * configuration has no transcoding routes.
   */
  async configure(config: GatewayConfig): Promise<number | null> {
    if (!usesPool(config)) return null;
    const data = poolDataOf(config, this.grpcTargets);
    const gen = ++this.gen;
    this.recent.push([gen, data]);
    if (this.recent.length > KEEP) this.recent.shift();
    if (!this.pool) {
      // The workers start now and compile what workerData carries before their first task.
      this.pool = this.start(config.transcoding);
      return gen;
    }
    const t = config.transcoding;
    if (t.workers !== this.settings!.workers || t.concurrentTasksPerWorker !== this.settings!.concurrentTasksPerWorker) {
      log.warn('reload: transcoding.workers and transcoding.concurrentTasksPerWorker need a restart; keeping the running pool size');
    }
    this.capacity = this.settings!.workers * this.settings!.concurrentTasksPerWorker + t.maxQueue;
    const want = this.pool.threads.length;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { this.acks.delete(gen); reject(new Error('transcoding workers did not confirm the new configuration in time')); }, ACK_TIMEOUT_MS);
      this.acks.set(gen, { want, got: new Set(), done: (err) => { clearTimeout(timer); if (err) reject(err); else resolve(); } });
      this.channel.postMessage({ type: 'configure', gen, data } satisfies PoolMessage);
    });
    return gen;
  }

  /** Rejects with QueueFullError at once when the pool holds workers × per worker + maxQueue calls. */
  run<T extends PoolTask>(task: T): Promise<ResultOf<T>> {
    if (!this.pool) return Promise.reject(new Error('the transcoding pool is not started'));
    if (this.active >= this.capacity) return Promise.reject(new QueueFullError('transcoding queue is full'));
    this.active++;
    const release = () => { this.active--; };
    const p = this.pool.run(task, { transferList: transferOf(task) as never }) as Promise<ResultOf<T>>;
    p.then(release, release);
    return p;
  }

  /** A port for a front-end thread: its tasks run here, results go back transferred. */
  serve(): MessagePort {
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (m: BridgeRequest) => {
      this.run(m.task).then(
        (result: { body: ArrayBuffer }) => port1.postMessage({ id: m.id, result } satisfies BridgeReply, result.body.byteLength ? [result.body] : []),
        (e: Error) => port1.postMessage({ id: m.id, error: { queueFull: e instanceof QueueFullError, message: e.message } } satisfies BridgeReply),
      );
    });
    port1.unref();
    return port2;
  }

  async close(): Promise<void> {
    this.channel.close();
    await this.pool?.close();
  }

  async destroy(): Promise<void> {
    this.channel.close();
    await this.pool?.destroy();
  }
}
