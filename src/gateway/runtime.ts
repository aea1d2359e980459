// Starting and stopping a gateway process: the front end (in this thread, or N front-end
// threads), the admin listener, the HTTP→HTTPS redirect listener, signals, reload (SIGHUP
// or POST /admin/reload) and graceful shutdown.
import http from 'node:http';
import { dirname, resolve as resolvePath } from 'node:path';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import type { GatewayConfig } from '../config/types.js';
import { loadConfigFile, parseConfig } from '../config/load.js';
import { readReflectedProtos } from '../config/reflected-protos.js';
import { createAdminServer } from '../admin/admin-server.js';
import { startHttpsRedirect } from '../server/https-redirect.js';
import { log } from '../observability/logger.js';
import type { Front } from './front.js';
import { startSingleFront } from './single-front.js';
import { startThreadedFront } from './threaded-front.js';
import { TranscodeHost } from '../transcode/transcode-host.js';
import { GrpcHealthChecks } from '../transcode/grpc-health-check.js';
import { allocateMetrics, shareOf } from '../observability/observer.js';
import { scrape } from '../observability/metrics/scrape.js';
import { createMetricsServer } from '../admin/metrics-server.js';
import { createStatusServer } from '../admin/status-server.js';
import { applyHeapGrowth } from './heap-growth.js';

function listenOn(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as { port: number }).port));
  });
}

/**
 * Which Host values the admin listener answers to: localhost and its own address, with its
 * port. Listening on a wildcard address, any IP literal is its own address too (DNS
 * rebinding needs a name). A name an attacker's DNS points here is refused.
 */
export function adminHostCheck(host: string, port: number): (h: string) => boolean {
  const names = new Set(['localhost', '127.0.0.1', '[::1]']);
  const wildcard = host === '0.0.0.0' || host === '::';
  if (!wildcard) names.add(host.includes(':') && !host.startsWith('[') ? `[${host}]` : host.toLowerCase());
  const suffix = `:${port}`;
  return (h) => {
    if (!h.endsWith(suffix)) return false;
    const name = h.slice(0, -suffix.length);
    return names.has(name) || (wildcard && (isIP(name) !== 0 || (name.startsWith('[') && isIP(name.slice(1, -1)) === 6)));
  };
}

export interface StartOptions {
  config: GatewayConfig;
  /** The file to re-read on reload; absent for an embedded config. */
  configFile?: string;
  engine?: 'uws' | 'node';
  port?: number;
  threads?: number;
  installSignals?: boolean;
}

export interface RunningGateway {
  front: Front;
  port: number;
  adminPort: number | null;
  /** the plain-HTTP redirect listener's port, when configured */
  redirectPort: number | null;
  /** observability.metrics.listen's port, when configured */
  metricsPort: number | null;
  /** observability.status.listen's port, when configured */
  statusPort: number | null;
  reload(text?: string | null): Promise<void>;
  shutdown(): Promise<void>;
}

/** Settings a reload cannot change: they shape listeners, threads and shared tables that already exist. */
function fixedAtStart(c: GatewayConfig): string {
  return JSON.stringify([c.engine, c.threads, c.listen, c.admin, c.limits.maxHeaderBytes, c.limits.headersTimeoutMs, c.rateLimit, c.observability, c.heap]);
}

/** threads: the config's, else one per core for uws; the node engine runs in one thread. */
export function threadsFor(config: GatewayConfig): number {
  if (config.engine === 'node') return 1;
  return config.threads ?? availableParallelism();
}

export async function startGateway(opts: StartOptions): Promise<RunningGateway> {
  const config = opts.config;
  if (opts.engine) config.engine = opts.engine;
  if (opts.port !== undefined) config.listen.port = opts.port;
  if (opts.threads !== undefined) config.threads = opts.threads;
  if (config.engine === 'node' && (config.threads ?? 1) > 1) {
    log.warn({ threads: config.threads }, 'the node engine runs one front-end thread (node:http cannot share a port between threads on Node 20)');
  }
  config.threads = threadsFor(config);
  // before any worker thread starts: they take the flag with them
  applyHeapGrowth(config.heap.growthPercent);
  await readReflectedProtos(config, opts.configFile ?? 'config');
  // The metrics every thread counts into (one SharedArrayBuffer, sized from the config).
  const metrics = allocateMetrics(config);
  // One transcoding pool for the process, whatever the thread count; kept across reloads.
  const transcoding = new TranscodeHost(metrics ? shareOf(metrics) : null);
  const generation = await transcoding.configure(config);
  // gRPC targets are checked here, once for the process; every calling thread reads the verdicts.
  let grpcHealth = new GrpcHealthChecks(config, transcoding.grpcTargets);
  const front = config.threads > 1 ? await startThreadedFront(config, config.threads, transcoding, generation, metrics) : await startSingleFront(config, transcoding, generation, metrics);
  const reloads = metrics?.family('gateway_config_reloads_total') ?? null;
  const port = front.port;
  let redirect: http.Server | null = null;
  if (config.listen.redirectHttp) {
    const r = config.listen.redirectHttp;
    redirect = await startHttpsRedirect(r.host ?? config.listen.host, r.port, port);
  }
  const redirectPort = redirect ? (redirect.address() as { port: number }).port : null;

  const history: Array<{ at: number; result: 'success' | 'failure'; problems?: string[] }> = [];
  const remember = (entry: (typeof history)[number]) => { history.push(entry); if (history.length > 20) history.shift(); };
  const reload = (text?: string | null): Promise<void> => applyReload(text).then(
    () => { reloads?.inc(['success']); remember({ at: Date.now(), result: 'success' }); },
    (e: unknown) => {
      reloads?.inc(['failure']);
      remember({ at: Date.now(), result: 'failure', problems: (e as { problems?: string[] }).problems ?? [String((e as Error).message)] });
      throw e;
    },
  );
  const applyReload = async (text?: string | null): Promise<void> => {
    let next: GatewayConfig;
    // A config sent to the admin API names files only inside the config's directory.
    if (text) next = parseConfig(text, 'reload body', { baseDir: opts.configFile ? dirname(resolvePath(opts.configFile)) : process.cwd(), confineFiles: true });
    else if (opts.configFile) next = loadConfigFile(opts.configFile);
    else next = structuredClone(front.config());
    await readReflectedProtos(next, text ? 'reload body' : opts.configFile ?? 'config', front.config());
    // Listener, thread and limiter-table settings stay as started (documented in docs/config.md).
    const current = front.config();
    next.threads ??= current.threads;
    if (fixedAtStart(next) !== fixedAtStart(current)) {
      log.warn('reload: engine, threads, listen, admin, rateLimit, observability, limits.maxHeaderBytes, limits.headersTimeoutMs and heap need a restart; keeping the running values');
    }
    next.engine = current.engine;
    next.threads = current.threads;
    next.listen = current.listen;
    next.admin = current.admin;
    next.rateLimit = current.rateLimit;
    next.observability = current.observability;
    next.heap = current.heap;
    next.limits.maxHeaderBytes = current.limits.maxHeaderBytes;
    next.limits.headersTimeoutMs = current.limits.headersTimeoutMs;
    await front.apply(next);
    grpcHealth.stop();
    grpcHealth = new GrpcHealthChecks(next, transcoding.grpcTargets);
    log.info({ routes: next.routes.length }, 'config reloaded');
  };

  const scrapeMetrics = metrics ? (openMetrics: boolean) => scrape({ store: metrics, view: front, transcoding: () => ({ workers: transcoding.workers, ...transcoding.stats() }) }, openMetrics) : null;
  let metricsServer: http.Server | null = null;
  let metricsPort: number | null = null;
  const own = config.observability.metrics.listen;
  if (scrapeMetrics && own) {
    metricsServer = createMetricsServer(scrapeMetrics);
    metricsPort = await listenOn(metricsServer, own.port, own.host);
  }
  let statusServer: http.Server | null = null;
  let statusPort: number | null = null;
  const probes = { view: front, engine: front.engineName, transcoding: () => ({ workers: transcoding.workers, generation: transcoding.generation }) };
  const status = config.observability.status?.listen;
  if (status) {
    statusServer = createStatusServer(probes);
    statusPort = await listenOn(statusServer, status.port, status.host);
  }
  let admin: http.Server | null = null;
  let adminPort: number | null = null;
  if (config.admin.enabled) {
    let hostOk: (h: string) => boolean = () => false;
    admin = createAdminServer({ ...probes, reload: (body) => reload(body), token: config.admin.token, metrics: scrapeMetrics, reloads: () => history }, (h) => hostOk(h));
    adminPort = await listenOn(admin, config.admin.port, config.admin.host);
    hostOk = adminHostCheck(config.admin.host, adminPort);
  }

  let stopping: Promise<void> | null = null;
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      admin?.close();
      metricsServer?.close();
      metricsServer?.closeAllConnections();
      statusServer?.close();
      statusServer?.closeAllConnections();
      redirect?.close();
      redirect?.closeAllConnections();
      grpcHealth.stop();
      await front.stop(Date.now() + config.limits.shutdownTimeoutMs);
      await transcoding.destroy();
      admin?.closeAllConnections();
    })();
    return stopping;
  };

  if (opts.installSignals) {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      void shutdown().then(() => { log.info('stopped'); process.exit(0); });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // logrotate's postrotate: the access log files are opened again.
    process.on('SIGUSR1', () => { log.info('SIGUSR1: reopening the access log'); front.reopenLogs(); });
    process.on('SIGHUP', () => {
      reload().catch((e: Error) => log.error({ problems: (e as { problems?: string[] }).problems ?? [e.message] }, 'reload failed; keeping the running config'));
    });
  }

  return { front, port, adminPort, redirectPort, metricsPort, statusPort, reload, shutdown };
}
