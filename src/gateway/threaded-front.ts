// workers: N (uws engine): N front-end threads, each with its own uWS App on the same port.
// This thread owns the config, the admin API and the lifecycle; it makes the limiter and
// quota SharedArrayBuffers once and hands the same ones to every thread, so limits and
// quotas are exact across threads. Upstream pools, balancers, health checks, outlier and
// breaker state are per thread (as Envoy's per-worker connection pools); the admin API
// merges them.
import { Worker } from 'node:worker_threads';
import net from 'node:net';
import type { GatewayConfig } from '../config/types.js';
import { GcraTable } from '../ratelimit/gcra-table.js';
import { QuotaTable } from '../ratelimit/quota-table.js';
import { PlanPolicies } from '../ratelimit/plan-limits.js';
import { ConsumerRegistry } from '../auth/consumers.js';
import type { SharedState } from './gateway.js';
import type { Front } from './front.js';
import type { FromThread, ThreadData, ThreadRequest, ToThread } from './front-thread.js';
import { mergeUpstreamStatus } from './merge-status.js';
import { log } from '../observability/logger.js';

const THREAD_FILE = new URL('./front-thread.js', import.meta.url);

/** A port every thread can bind: port 0 is resolved here once (each thread would get its own). */
function fixedPort(host: string, port: number): Promise<number> {
  if (port !== 0) return Promise.resolve(port);
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

class FrontThread {
  private nextId = 1;
  private readonly waiting = new Map<number, (m: Extract<FromThread, { type: 'reply' }>) => void>();
  readonly stopped: Promise<void>;
  private onStopped!: () => void;

  constructor(readonly worker: Worker) {
    this.stopped = new Promise((r) => { this.onStopped = r; });
    worker.on('message', (m: FromThread) => {
      if (m.type === 'reply') { this.waiting.get(m.id)?.(m); this.waiting.delete(m.id); }
      else if (m.type === 'stopped') this.onStopped();
    });
    worker.once('exit', () => {
      this.onStopped();
      for (const [id, cb] of this.waiting) cb({ type: 'reply', id, ok: false, error: 'front-end thread exited' });
      this.waiting.clear();
    });
  }

  ask(m: ThreadRequest): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (r) => (r.ok ? resolve(r.result) : reject(new Error(r.error))));
      this.worker.postMessage({ ...m, id } as ToThread);
    });
  }
}

function startThread(data: ThreadData): Promise<FrontThread> {
  const worker = new Worker(THREAD_FILE, { workerData: data });
  const thread = new FrontThread(worker);
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromThread) => {
      if (m.type === 'listening') { worker.off('message', onMessage); resolve(thread); }
      else if (m.type === 'failed') reject(new Error(m.message));
    };
    worker.on('message', onMessage);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`front-end thread ${data.index} exited (${code}) while starting`)));
  });
}

export async function startThreadedFront(config: GatewayConfig, workers: number): Promise<Front> {
  const shared: SharedState = { limiter: GcraTable.allocate(config.rateLimit.tableSize), quotas: QuotaTable.allocate() };
  const limiter = new GcraTable(shared.limiter, config.rateLimit.onFull);
  const quotas = new QuotaTable(shared.quotas);
  const port = await fixedPort(config.listen.host, config.listen.port);
  const threads: FrontThread[] = [];
  try {
    // The first thread starts alone: a bad listener fails fast, before N copies of it.
    threads.push(await startThread({ config, shared, port, index: 1 }));
    threads.push(...(await Promise.all(Array.from({ length: workers - 1 }, (_, i) => startThread({ config, shared, port, index: i + 2 })))));
  } catch (e) {
    await Promise.all(threads.map((t) => t.worker.terminate()));
    throw e;
  }
  let current = config;
  let plans = new PlanPolicies(config.plans);
  let consumers = new ConsumerRegistry(config.consumers);
  const all = <T>(m: ThreadRequest) => Promise.all(threads.map((t) => t.ask(m) as Promise<T>));
  return {
    engineName: 'uws',
    port,
    workers,
    config: () => current,
    health: async () => ({ inflight: (await all<{ inflight: number }>({ type: 'query', what: 'health' })).reduce((a, h) => a + h.inflight, 0), workers }),
    upstreams: async () => mergeUpstreamStatus(await all<Record<string, unknown>>({ type: 'query', what: 'upstreams' })),
    ratelimit: async () => {
      const st = limiter.stats();
      const remote = (await all<Record<string, unknown> | null>({ type: 'query', what: 'remote' })).filter((r): r is Record<string, unknown> => !!r);
      return {
        tableSize: limiter.capacity, slotsInUse: st.used, decisions: Number(st.decisions), denied: Number(st.denied), tableFull: Number(st.full),
        ...(remote.length
          ? {
            backend: 'redis',
            redis: remote.every((r) => r.redis === 'up') ? 'up' : remote.some((r) => r.redis === 'up') ? 'partly up' : 'down',
            fallbackDecisions: remote.reduce((a, r) => a + Number(r.fallbackDecisions), 0),
            errors: remote.reduce((a, r) => a + Number(r.errors), 0),
          }
          : { backend: 'local' }),
      };
    },
    usage: async (id) => {
      const consumer = consumers.byId(id);
      return consumer ? plans.usage(quotas, consumer) : null;
    },
    apply: async (next) => {
      const results = await Promise.allSettled(threads.map((t) => t.ask({ type: 'reload', config: next })));
      const failed = results.filter((r) => r.status === 'rejected');
      if (failed.length) {
        log.error({ failed: failed.length, workers }, 'reload failed in some front-end threads');
        throw new Error(`reload failed in ${failed.length} of ${workers} front-end threads`);
      }
      current = next;
      plans = new PlanPolicies(next.plans);
      consumers = new ConsumerRegistry(next.consumers);
    },
    stop: async (deadline) => {
      for (const t of threads) t.worker.postMessage({ type: 'stop', deadline } satisfies ToThread);
      const late = setTimeout(() => { for (const t of threads) void t.worker.terminate(); }, Math.max(0, deadline - Date.now()) + 3000);
      await Promise.all(threads.map((t) => t.stopped));
      clearTimeout(late);
    },
  };
}
