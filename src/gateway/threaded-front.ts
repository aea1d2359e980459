// threads: N (uws engine): N front-end threads, each with its own uWS App on the same port.
// This thread owns the config, the admin API and the lifecycle; it makes the limiter and
// quota SharedArrayBuffers once and hands the same ones to every thread, so limits and
// quotas are exact across threads. Upstream pools, balancers, health checks, outlier and
// breaker state are per thread (as Envoy's per-worker connection pools); the admin API
// merges them.
import { Worker } from 'node:worker_threads';
import net from 'node:net';
import type { GatewayConfig } from '../config/types.js';
import { GcraTable, randomSeed } from '../ratelimit/gcra-table.js';
import { QuotaTable } from '../ratelimit/quota-table.js';
import { PlanPolicies } from '../policies/quota/plan-limits.js';
import { ConsumerRegistry } from '../policies/auth/consumers.js';
import type { SharedState } from './gateway.js';
import type { Front } from './front.js';
import { policyModules } from '../policies/registry.js';
import type { FromThread, ThreadData, ThreadRequest, ToThread } from './front-thread.js';
import { mergeUpstreamStatus } from './merge-status.js';
import { log } from '../observability/logger.js';
import type { TranscodeHost } from '../transcode/transcode-host.js';
import { grpcUpstreamsStatus } from '../transcode/grpc-target-state.js';
import { shareOf } from '../observability/observer.js';
import { watchEventLoop } from '../observability/metrics/request-metrics.js';
import type { MetricsStore } from '../observability/metrics/store.js';

const THREAD_FILE = new URL('./front-thread.js', import.meta.url);
/** admin queries and reload steps; a prepare resolves DNS, so it gets longer */
const ASK_TIMEOUT_MS = 5000;
const PREPARE_TIMEOUT_MS = 30_000;

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

  /** A question to the thread; a thread that does not answer within `timeoutMs` fails it. */
  ask(m: ThreadRequest, timeoutMs = ASK_TIMEOUT_MS): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`front-end thread did not answer "${m.type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, (r) => { clearTimeout(timer); if (r.ok) resolve(r.result); else reject(new Error(r.error)); });
      this.worker.postMessage({ ...m, id } as ToThread);
    });
  }
}

function startThread(data: ThreadData): Promise<FrontThread> {
  const worker = new Worker(THREAD_FILE, { workerData: data, transferList: data.transcoding ? [data.transcoding.port] : [] });
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

/** `host`: the process's transcoding pool (each thread gets a port to it); `generation`: its generation for `config`. */
export async function startThreadedFront(config: GatewayConfig, threadCount: number, host: TranscodeHost, generation: number | null, metricsStore: MetricsStore | null): Promise<Front> {
  const metrics = metricsStore ? shareOf(metricsStore) : null;
  const stopLoopWatch = metricsStore ? watchEventLoop(metricsStore, 'main') : null;
  const shared: SharedState = { limiter: GcraTable.allocate(config.rateLimit.tableSize), quotas: QuotaTable.allocate(), seed: randomSeed(), cancelFlags: host.cancelFlags, grpcTargets: host.grpcTargets };
  let currentGen = generation;
  const transcoding = () => ({ port: host.serve(), generation: currentGen });
  const limiter = new GcraTable(shared.limiter, shared.seed);
  const quotas = new QuotaTable(shared.quotas);
  const port = await fixedPort(config.listen.host, config.listen.port);
  const threads: FrontThread[] = [];
  try {
    // The first thread starts alone: a bad listener fails fast, before N copies of it.
    threads.push(await startThread({ config, shared, port, index: 1, policyModules: policyModules(), transcoding: transcoding(), metrics }));
    threads.push(...(await Promise.all(Array.from({ length: threadCount - 1 }, (_, i) => startThread({ config, shared, port, index: i + 2, policyModules: policyModules(), transcoding: transcoding(), metrics })))));
  } catch (e) {
    await Promise.all(threads.map((t) => t.worker.terminate()));
    throw e;
  }
  let current = config;
  let stopping = false;
  /** A thread that exits (it should not: escaped exceptions are logged, and one that ends with
   * its uWS App open takes the process with it) is logged and replaced, on the running config. */
  const watch = (thread: FrontThread, index: number) => {
    thread.worker.once('exit', (code) => {
      if (stopping) return;
      log.error({ thread: index, code }, 'a front-end thread died; starting a new one');
      const i = threads.indexOf(thread);
      startThread({ config: current, shared, port, index, replacement: true, policyModules: policyModules(), transcoding: transcoding(), metrics }).then(
        (fresh) => { if (i >= 0) threads[i] = fresh; watch(fresh, index); if (stopping) void fresh.worker.terminate(); },
        (e: Error) => log.error({ thread: index, err: e.message }, 'could not replace a front-end thread'),
      );
    });
  };
  threads.forEach((t, i) => watch(t, i + 1));
  let plans = new PlanPolicies(config.plans, config.rateLimit);
  let consumers = new ConsumerRegistry(config.consumers);
  const all = <T>(m: ThreadRequest) => Promise.all(threads.map((t) => t.ask(m) as Promise<T>));
  return {
    engineName: 'uws',
    port,
    threads: threadCount,
    config: () => current,
    health: async () => {
      const each = await all<{ inflight: number; websockets: number }>({ type: 'query', what: 'health' });
      return { inflight: each.reduce((a, h) => a + h.inflight, 0), websockets: each.reduce((a, h) => a + h.websockets, 0), threads: threadCount };
    },
    upstreams: async () => ({ ...mergeUpstreamStatus(await all<Record<string, unknown>>({ type: 'query', what: 'upstreams' })), ...grpcUpstreamsStatus(current, host.grpcTargets) }),
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
    reopenLogs: () => { for (const t of threads) t.worker.postMessage({ type: 'reopen-logs' } satisfies ToThread); },
    usage: async (id) => {
      const consumer = consumers.byId(id);
      return consumer ? plans.usage(quotas, consumer) : null;
    },
    apply: async (next) => {
      // All or none: every thread compiles the new table first; only when all have it do
      // they switch, so no thread can be left serving another config than the others.
      // The pool compiles the new config first (all its workers), then every thread.
      const gen = await host.configure(next);
      const prepared = await Promise.allSettled(threads.map((t) => t.ask({ type: 'prepare', config: next, generation: gen }, PREPARE_TIMEOUT_MS)));
      const failed = prepared.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed.length) {
        await Promise.allSettled(threads.map((t) => t.ask({ type: 'discard' })));
        log.error({ failed: failed.length, threads: threadCount, err: String(failed[0]!.reason?.message ?? failed[0]!.reason) }, 'reload failed in some front-end threads; every thread keeps the running config');
        throw new Error(`reload failed in ${failed.length} of ${threadCount} front-end threads: ${failed[0]!.reason?.message ?? failed[0]!.reason}`);
      }
      const committed = await Promise.allSettled(threads.map((t) => t.ask({ type: 'commit' })));
      if (committed.some((r) => r.status === 'rejected')) log.error('a front-end thread did not confirm the switch to the new config');
      current = next;
      currentGen = gen;
      plans = new PlanPolicies(next.plans, next.rateLimit);
      consumers = new ConsumerRegistry(next.consumers);
    },
    stop: async (deadline) => {
      stopping = true;
      stopLoopWatch?.();
      for (const t of threads) t.worker.postMessage({ type: 'stop', deadline } satisfies ToThread);
      const late = setTimeout(() => { for (const t of threads) void t.worker.terminate(); }, Math.max(0, deadline - Date.now()) + 3000);
      await Promise.all(threads.map((t) => t.stopped));
      clearTimeout(late);
    },
  };
}
