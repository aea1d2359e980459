// Starting and stopping a gateway process: front end, admin listener, signals,
// reload (SIGHUP or POST /admin/reload) and graceful shutdown.
import type http from 'node:http';
import type { GatewayConfig } from '../config/types.js';
import { loadConfigFile, parseConfig } from '../config/load.js';
import { Gateway } from './gateway.js';
import { UwsEngine } from '../server/uws-engine.js';
import { NodeEngine } from '../server/node-engine.js';
import type { Engine } from '../server/types.js';
import { createAdminServer } from '../admin/admin-server.js';
import { startHttpsRedirect } from '../server/https-redirect.js';
import { log } from '../observability/logger.js';
import { GatewayError } from '../errors.js';

export interface StartOptions {
  config: GatewayConfig;
  /** The file to re-read on reload; absent for an embedded config. */
  configFile?: string;
  engine?: 'uws' | 'node';
  port?: number;
  installSignals?: boolean;
}

export interface RunningGateway {
  gateway: Gateway;
  engine: Engine;
  port: number;
  adminPort: number | null;
  /** the plain-HTTP redirect listener's port, when configured */
  redirectPort: number | null;
  reload(text?: string | null): Promise<void>;
  shutdown(): Promise<void>;
}

/** Settings a reload cannot change: they shape listeners that are already open. */
function fixedAtStart(c: GatewayConfig): string {
  return JSON.stringify([c.engine, c.listen, c.admin, c.limits.maxHeaderBytes, c.limits.headersTimeoutMs]);
}

export async function startGateway(opts: StartOptions): Promise<RunningGateway> {
  const config = opts.config;
  if (opts.engine) config.engine = opts.engine;
  if (opts.port !== undefined) config.listen.port = opts.port;
  const gateway = new Gateway(config);
  const engineOptions = {
    host: config.listen.host,
    port: config.listen.port,
    maxHeaderBytes: config.limits.maxHeaderBytes,
    headersTimeoutMs: config.limits.headersTimeoutMs,
    tls: config.listen.tls,
  };
  let engine: Engine;
  try {
    engine = config.engine === 'uws' ? new UwsEngine(engineOptions, gateway.handle) : new NodeEngine(engineOptions, gateway.handle);
  } catch (e) {
    void gateway.destroy();
    throw e;
  }
  await gateway.ready();
  const port = await engine.listen();
  let redirect: http.Server | null = null;
  if (config.listen.redirectHttp) {
    const r = config.listen.redirectHttp;
    redirect = await startHttpsRedirect(r.host ?? config.listen.host, r.port, port);
  }
  const redirectPort = redirect ? (redirect.address() as { port: number }).port : null;

  const reload = async (text?: string | null): Promise<void> => {
    let next: GatewayConfig;
    if (text) next = parseConfig(text, 'reload body');
    else if (opts.configFile) next = loadConfigFile(opts.configFile);
    else next = structuredClone(gateway.config);
    // Listener settings stay as started (documented in docs/config.md).
    const current = gateway.config;
    if (fixedAtStart(next) !== fixedAtStart(current)) {
      log.warn('reload: engine, listen, admin, limits.maxHeaderBytes and limits.headersTimeoutMs need a restart; keeping the running values');
    }
    next.engine = current.engine;
    next.listen = current.listen;
    next.admin = current.admin;
    next.limits.maxHeaderBytes = current.limits.maxHeaderBytes;
    next.limits.headersTimeoutMs = current.limits.headersTimeoutMs;
    await gateway.reload(next);
    log.info({ routes: next.routes.length }, 'config reloaded');
  };

  let admin: http.Server | null = null;
  let adminPort: number | null = null;
  if (config.admin.enabled) {
    admin = createAdminServer({ gateway, reload, engine: engine.name });
    adminPort = await new Promise<number>((resolve, reject) => {
      admin!.once('error', reject);
      admin!.listen(config.admin.port, config.admin.host, () => resolve((admin!.address() as { port: number }).port));
    });
  }

  let stopping: Promise<void> | null = null;
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      const deadline = Date.now() + config.limits.shutdownTimeoutMs;
      engine.stopListening();
      admin?.close();
      redirect?.close();
      redirect?.closeAllConnections();
      while (gateway.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      if (gateway.inflight > 0) log.warn({ inflight: gateway.inflight }, 'shutdown deadline reached; closing remaining requests');
      // Requests still waiting for their upstream get a 503; streams already under way are cut.
      const shuttingDown = new GatewayError('service_unavailable', 'the gateway is shutting down', 'internal', true);
      await Promise.race([gateway.destroy(shuttingDown), new Promise((r) => setTimeout(r, 500))]);
      await new Promise((r) => setTimeout(r, 20)); // let the 503s reach the socket
      engine.closeAll();
      admin?.closeAllConnections();
    })();
    return stopping;
  };

  if (opts.installSignals) {
    const stop = (signal: string) => {
      log.info({ signal, inflight: gateway.inflight }, 'shutting down');
      void shutdown().then(() => { log.info('stopped'); process.exit(0); });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      reload().catch((e: Error) => log.error({ problems: (e as { problems?: string[] }).problems ?? [e.message] }, 'reload failed; keeping the running config'));
    });
  }

  return { gateway, engine, port, adminPort, redirectPort, reload, shutdown };
}
