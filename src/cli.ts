#!/usr/bin/env node
// gateway --config FILE [--engine uws|node] [--port N] [--policy FILE]   serve a config
// gateway validate FILE                                  check a config, list every error
// gateway demo                                           demo services + embedded config
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile, parseConfig } from './config/load.js';
import { startGateway, type RunningGateway } from './gateway/runtime.js';
import { UwsUnavailableError } from './server/uws-loader.js';
import { demoConfigYaml, startDemoServices } from './demo/demo-services.js';
import { startCatalogServer, PROTO_DIR } from './demo/catalog-service.js';
import { log } from './observability/logger.js';
import { loadPolicyModules } from './policies/registry.js';

const USAGE = `usage:
  gateway --config FILE [--engine uws|node] [--port N] [--threads N] [--policy FILE ...]
  gateway validate FILE [--policy FILE ...]
  gateway demo [--engine uws|node] [--port N] [--threads N]

  --policy FILE   load a policy module (its default export is a PolicyFactory; docs/extending.md)`;

function fail(message: string, code = 1): never {
  process.stderr.write(message.endsWith('\n') ? message : message + '\n');
  process.exit(code);
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        engine: { type: 'string' },
        port: { type: 'string' },
        threads: { type: 'string' },
        workers: { type: 'string' }, // the old name of --threads
        policy: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    fail(`${(e as Error).message}\n${USAGE}`, 2);
  }
  const { values, positionals } = args;
  if (values.help) { process.stdout.write(USAGE + '\n'); return; }
  const engine = values.engine;
  if (engine !== undefined && engine !== 'uws' && engine !== 'node') fail(`--engine must be uws or node\n${USAGE}`, 2);
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65536)) fail(`--port must be 0..65535`, 2);
  const threadsArg = values.threads ?? values.workers;
  const threads = threadsArg === undefined ? undefined : Number(threadsArg);
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1 && threads <= 256)) fail(`--threads must be 1..256`, 2);

  try { await loadPolicyModules(values.policy ?? []); } catch (e) {
    fail(`cannot load a policy module: ${(e as Error).message}`);
  }
  const command = positionals[0];
  if (command === 'validate') {
    const file = positionals[1] ?? values.config;
    if (!file) fail(USAGE, 2);
    try {
      const cfg = loadConfigFile(file);
      process.stdout.write(`${file}: ok (${cfg.routes.length} routes, ${Object.keys(cfg.upstreams).length} upstreams)\n`);
      const reflected = Object.keys(cfg.upstreams).filter((n) => cfg.upstreams[n]!.protos?.reflection);
      if (reflected.length) process.stdout.write(`not contacted: ${reflected.join(', ')} (server reflection); the routes using them are checked when the gateway starts\n`);
    } catch (e) {
      if (e instanceof ConfigError) fail(e.message);
      throw e;
    }
    return;
  }

  let running: RunningGateway;
  try {
    if (command === 'demo') {
      const services = await startDemoServices();
      const catalog = await startCatalogServer();
      const ports = { ...Object.fromEntries(services.map((s) => [s.name, s.port])), catalog: catalog.port };
      const config = parseConfig(demoConfigYaml(ports, port ?? 8080, PROTO_DIR), 'demo config');
      running = await startGateway({ config, engine: engine as 'uws' | 'node' | undefined, threads, installSignals: true });
      const base = `http://127.0.0.1:${running.port}`;
      process.stdout.write(`\nDemo gateway (${running.front.engineName} engine, ${running.front.threads} thread${running.front.threads === 1 ? '' : 's'}) on ${base}, admin on http://127.0.0.1:${running.adminPort}\nTry:\n` +
        `  curl -i ${base}/api/users\n  curl -i ${base}/api/users/1\n  curl -i ${base}/api/orders/100\n  curl -i ${base}/nope            # 404 JSON\n` +
        `  curl -i -X DELETE ${base}/api/users/1   # 405 with Allow\n` +
        `  curl -s ${base}/v1/shelves/classics/books/1              # REST/JSON → gRPC (demo.catalog.v1.Catalog)\n` +
        `  curl -s -X POST ${base}/v1/shelves/classics/books -d '{"title":"New","isbn":"42"}'\n` +
        `  curl -sN '${base}/v1/shelves/classics:watch?page_size=3'   # server streaming as NDJSON\n` +
        `  curl -si ${base}/api/profile/1   # aggregate: user + their orders + gRPC recommendations in one answer\n` +
        `  node examples/ws-echo.mjs ws://127.0.0.1:${running.port}/ws/echo hello   # WebSocket through the gateway\n` +
        `  node examples/grpc-ws.mjs ws://127.0.0.1:${running.port}/v1/notes:discuss hello world   # a bidi gRPC method over WebSocket\n` +
        `  for i in $(seq 12); do curl -s -o /dev/null -w '%{http_code} ' ${base}/api/users; done; echo   # 429 after a burst of 10\n` +
        `  curl -s http://127.0.0.1:${running.adminPort}/admin/routes\n  curl -s http://127.0.0.1:${running.adminPort}/admin/upstreams\n` +
        `Metrics: http://127.0.0.1:${running.adminPort}/metrics\nDashboard: http://127.0.0.1:${running.adminPort}/admin/ui\nCtrl-C stops it.\n\n`);
    } else if (command === undefined || command === 'start') {
      if (!values.config) fail(USAGE, 2);
      const config = loadConfigFile(values.config);
      running = await startGateway({ config, configFile: values.config, engine: engine as 'uws' | 'node' | undefined, port, threads, installSignals: true });
    } else {
      fail(`unknown command "${command}"\n${USAGE}`, 2);
    }
  } catch (e) {
    if (e instanceof ConfigError || e instanceof UwsUnavailableError) fail(e.message);
    fail(`gateway failed to start: ${(e as Error).message}`);
  }
  log.info({ port: running.port, adminPort: running.adminPort, engine: running.front.engineName, threads: running.front.threads, redirectPort: running.redirectPort ?? undefined, metricsPort: running.metricsPort ?? undefined, statusPort: running.statusPort ?? undefined, tls: !!running.front.config().listen.tls }, 'listening');
}

// Every request continuation is guarded (a bug answers that request 500). Whatever still
// escapes is logged and the gateway keeps serving: one request must never stop the process.
process.on('uncaughtException', (e) => {
  log.error({ err: { message: e.message, stack: e.stack } }, 'uncaught exception; still serving');
});
process.on('unhandledRejection', (e) => {
  log.error({ err: e instanceof Error ? { message: e.message, stack: e.stack } : String(e) }, 'unhandled rejection; still serving');
});

main().catch((e: Error) => fail(`gateway failed: ${e.message}`));
