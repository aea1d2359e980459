// One front-end thread (threads: N): its own Gateway and uWS App on the shared port, the
// limiter and quota SharedArrayBuffers of the main thread, and a message loop for reload,
// admin queries and graceful stop. The kernel spreads connections (SO_REUSEPORT).
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { RemoteTranscoder } from '../transcode/transcoder.js';
import type { GatewayConfig } from '../config/types.js';
import { Gateway, type SharedState } from './gateway.js';
import { UwsEngine } from '../server/uws-engine.js';
import { engineOptions } from './single-front.js';
import { drain } from './drain.js';
import { upstreamStatus } from './admin-state.js';
import { log } from '../observability/logger.js';
import { loadPolicyModules } from '../policies/registry.js';
import { Observer, storeOf, type MetricsShare } from '../observability/observer.js';

export interface ThreadData {
  config: GatewayConfig; shared: SharedState; port: number; index: number;
  /** started to replace one that died */ replacement?: boolean;
  /** policy modules the main thread loaded (--policy): this thread loads them too */ policyModules: readonly string[];
  /** the main thread's transcoding pool: a port to it, and the generation of `config` */
  transcoding: { port: MessagePort; generation: number | null } | null;
  /** the process's shared metrics (null: off) */
  metrics: MetricsShare | null;
}

/** Requests that get a reply (matched by id). A reload is two-phase across threads: every
 * thread prepares (compiles, resolves DNS), then all commit, or all discard. */
export type ThreadRequest =
  | { type: 'prepare'; config: GatewayConfig; generation: number | null } | { type: 'commit' } | { type: 'discard' }
  | { type: 'query'; what: 'health' | 'upstreams' | 'remote' };

export type ToThread = (ThreadRequest & { id: number }) | { type: 'stop'; deadline: number } | { type: 'reopen-logs' };

export type FromThread =
  | { type: 'listening' }
  | { type: 'failed'; message: string }
  | { type: 'reply'; id: number; ok: boolean; result?: unknown; error?: string }
  | { type: 'stopped' };

const port = parentPort!;
const data = workerData as ThreadData;
const post = (m: FromThread) => port.postMessage(m);

// Every request continuation is guarded; what still escapes is logged and the thread keeps
// serving. It must: a thread that ends while its uWS App is open aborts the whole process
// (node's "uv_loop_close() while having open handles" assertion, measured here).
process.on('uncaughtException', (e) => log.error({ err: { message: e.message, stack: e.stack }, thread: data.index }, 'uncaught exception in a front-end thread; still serving'));
process.on('unhandledRejection', (e) => log.error({ err: e instanceof Error ? { message: e.message, stack: e.stack } : String(e), thread: data.index }, 'unhandled rejection in a front-end thread; still serving'));

async function main(): Promise<void> {
  try { await loadPolicyModules(data.policyModules); } catch (e) {
    post({ type: 'failed', message: (e as Error).message });
    port.close();
    return;
  }
  const transcoder = data.transcoding ? new RemoteTranscoder(data.transcoding.port) : null;
  const observer = Observer.create(data.config, data.metrics ? storeOf(data.metrics) : null, String(data.index));
  const gateway = new Gateway(data.config, { shared: data.shared, transcoder, generation: data.transcoding?.generation ?? null, observer });
  let engine: UwsEngine;
  try {
    engine = new UwsEngine(engineOptions(data.config, data.port), gateway.handle);
    await gateway.ready();
    await engine.listen();
  } catch (e) {
    await gateway.destroy();
    await observer.close();
    post({ type: 'failed', message: (e as Error).message });
    port.close();
    return;
  }
  port.on('message', (m: ToThread) => {
    if (m.type === 'prepare') {
      gateway.prepare(m.config, m.generation).then(
        () => post({ type: 'reply', id: m.id, ok: true }),
        (e: Error) => post({ type: 'reply', id: m.id, ok: false, error: e.message }),
      );
    } else if (m.type === 'commit' || m.type === 'discard') {
      try {
        if (m.type === 'commit') gateway.commit(); else gateway.discard();
        post({ type: 'reply', id: m.id, ok: true });
      } catch (e) {
        post({ type: 'reply', id: m.id, ok: false, error: (e as Error).message });
      }
    } else if (m.type === 'query') {
      const result = m.what === 'health' ? { inflight: gateway.inflight, websockets: engine.openWebSockets() }
        : m.what === 'upstreams' ? upstreamStatus(gateway)
        : gateway.remoteLimiter?.status() ?? null;
      post({ type: 'reply', id: m.id, ok: true, result });
    } else if (m.type === 'reopen-logs') {
      observer.reopen();
    } else if (m.type === 'stop') {
      void drain(gateway, engine, m.deadline).then(() => observer.close()).then(() => {
        post({ type: 'stopped' });
        port.close(); // nothing left: the thread ends by itself (uWS must not be torn down mid-loop)
      });
    }
  });
  log.debug({ thread: data.index }, 'front-end thread listening');
  post({ type: 'listening' });
  // Fault injection for one test only (test/workers.e2e): an exception escapes in thread 1.
  const throwAfter = Number(process.env.GATEWAY_TEST_THREAD_THROW_MS);
  if (throwAfter > 0 && data.index === 1 && !data.replacement) setTimeout(() => { throw new Error('injected fault'); }, throwAfter);
}

void main();
