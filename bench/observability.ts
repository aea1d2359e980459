// npm run bench:observability: what metrics, the access log and tracing cost on the small
// GET. One gateway per variant (uws, 1 front thread, same routes), started in turn, in
// interleaved rounds (off, metrics, ..., full, full, ..., off: ABBA cancels drift):
//   off       observability.metrics.enabled: false, no access log, no tracing
//   metrics   metrics on (the default), scraped every 5 s as Prometheus would
//   accessLog metrics + the JSON access log to a file
//   tracing   metrics + tracing at 1% to a real OTLP/HTTP receiver
//   full      metrics + access log + tracing
//   nginx, nginxAccessLog  the reference: nginx (1 worker) without and with a JSON access log
//             of the same fields, buffered the same way (what logging costs a C proxy here)
// Targets (issue #12): full costs ≤ 5% of req/s, metrics alone ≤ 2%, against off.
// wrk by default (BENCH_LOAD=autocannon to switch); BENCH_ROUNDS (8), BENCH_SECONDS (4) after
// BENCH_WARMUP (3) seconds of load on each new gateway: many
// short rounds, each variant's ratio to the same round's off, the median over rounds.
import { existsSync, writeFileSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startProc, cpuSeconds } from './processes.js';
import { runLoad, generator, PROXY_CORE, LOAD_CORE } from './load-runner.js';
import { here, root, log } from './scenario-settings.js';
import { ensureNginx, startNginx } from './nginx.js';
import { median } from './median.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 8);
const seconds = Number(process.env.BENCH_SECONDS ?? 4);
const warmup = Number(process.env.BENCH_WARMUP ?? 3);
const TOKEN = 'bench-admin-token-0123456789';

type Variant = 'off' | 'metrics' | 'accessLog' | 'tracing' | 'full' | 'nginx' | 'nginxAccessLog';
const ALL: Variant[] = ['off', 'metrics', 'accessLog', 'tracing', 'full', 'nginx', 'nginxAccessLog'];
/** BENCH_VARIANTS=off,full runs only those (off is always run: it is the baseline) */
const VARIANTS: Variant[] = process.env.BENCH_VARIANTS
  ? ALL.filter((v) => v === 'off' || process.env.BENCH_VARIANTS!.split(',').includes(v))
  : ALL;

/** A port nothing listens on now (the admin listener's; the gateway logs only the client port). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** An OTLP/HTTP receiver that counts the spans' export requests and answers 200 (the SDK sends JSON). */
function otlpReceiver(): Promise<{ server: Server; port: number; exports: () => number; bytes: () => number }> {
  let exports = 0;
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on('data', (d: Buffer) => { bytes += d.length; });
    req.on('end', () => { exports++; res.writeHead(200, { 'content-type': 'application/json' }).end('{}'); });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port, exports: () => exports, bytes: () => bytes })));
}

/** Warm-up, then the measured load: req/s, p99 and the proxy's CPU per request. */
async function measure(variant: Variant, url: string, pid: number): Promise<{ rps: number; p99: number; cpuUs: number }> {
  await runLoad(url, warmup); // long enough for rarely-run code (1% of requests are traced) to be compiled
  const cpu0 = cpuSeconds(pid);
  const res = await runLoad(url, seconds);
  const cpuUs = ((cpuSeconds(pid) - cpu0) * 1e6) / Math.max(1, res.requests);
  if (res.errors || res.non2xx) throw new Error(`${variant}: ${res.errors} errors, ${res.non2xx} non-2xx`);
  log(`${variant.padEnd(14)} ${Math.round(res.rps)} req/s  p99 ${res.p99} ms  cpu ${cpuUs.toFixed(1)} µs/req`);
  return { rps: res.rps, p99: res.p99, cpuUs };
}

async function main(): Promise<void> {
  const nginxBin = VARIANTS.some((v) => v.startsWith('nginx')) ? ensureNginx(log) : null;
  const upstream = await startProc(LOAD_CORE, process.execPath, [join(here, 'upstream-server.js')]);
  const otlp = await otlpReceiver();
  const dir = mkdtempSync(join(tmpdir(), 'bench-observability-'));
  // The log's file: BENCH_LOG_DIR, else memory (/dev/shm) where there is one, else the temp dir.
  // On this VM, writing ~5 MB/s to its disk makes the kernel's writeback steal the serving
  // core for tens of seconds (into the variants that follow); nginx logging there pays it too.
  const logDir = process.env.BENCH_LOG_DIR ?? (existsSync('/dev/shm') ? mkdtempSync('/dev/shm/bench-observability-') : dir);
  const accessLog = join(logDir, 'access.log');
  const base = {
    engine: 'uws', threads: 1, listen: { host: '127.0.0.1', port: 0 },
    upstreams: { up: { targets: [{ url: `http://127.0.0.1:${upstream.port}` }] } },
    routes: [
      ...Array.from({ length: 100 }, (_, i) => ({ name: `svc${i}`, match: { prefix: `/svc${i}` }, upstream: 'up' })),
      { name: 'small', match: { path: '/small', methods: ['GET'] }, upstream: 'up' },
    ],
  };
  const logging = { enabled: true, path: accessLog, format: 'json' };
  const tracing = { otlp: { endpoint: `http://127.0.0.1:${otlp.port}/v1/traces` }, sampleRatio: 0.01 };
  const observability: Partial<Record<Variant, object>> = {
    off: { metrics: { enabled: false } },
    metrics: { metrics: { enabled: true } },
    accessLog: { metrics: { enabled: true }, accessLog: logging },
    tracing: { metrics: { enabled: true }, tracing },
    full: { metrics: { enabled: true }, accessLog: logging, tracing },
  };

  // The log is emptied after each variant (a file growing by GBs in memory slowed the whole VM).
  let logBytes = 0;
  const dropLog = () => { if (existsSync(accessLog)) { logBytes += statSync(accessLog).size; rmSync(accessLog); } };
  const order: Variant[] = [];
  for (let r = 0; r < rounds; r++) order.push(...(r % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()));
  const samples = Object.fromEntries(VARIANTS.map((v) => [v, [] as Array<{ rps: number; p99: number; cpuUs: number }>])) as Record<Variant, Array<{ rps: number; p99: number; cpuUs: number }>>;
  try {
    for (const variant of order) {
      if (variant === 'nginx' || variant === 'nginxAccessLog') {
        if (!nginxBin) continue;
        const ngx = await startNginx(nginxBin, PROXY_CORE, upstream.port, variant === 'nginxAccessLog' ? accessLog : null);
        try {
          samples[variant].push(await measure(variant, `http://127.0.0.1:${ngx.port}/small`, ngx.child.pid!));
        } finally {
          await ngx.stop();
          dropLog();
        }
        continue;
      }
      const adminPort = await freePort();
      const config = join(dir, `${variant}.yaml`);
      writeFileSync(config, stringify({ ...base, admin: { host: '127.0.0.1', port: adminPort, token: TOKEN }, observability: observability[variant] }));
      const gw = await startProc(PROXY_CORE, process.execPath, [join(root, 'dist', 'src', 'cli.js'), '--config', config], { LOG_LEVEL: 'info' }, /"port":(\d+)/);
      // Prometheus' habit: a scrape every few seconds while the load runs (off: 404s, as cheap).
      const scrape = setInterval(() => {
        fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } }).then((r) => r.arrayBuffer(), () => undefined).catch(() => undefined);
      }, 5000);
      try {
        samples[variant].push(await measure(variant, `http://127.0.0.1:${gw.port}/small`, gw.child.pid!));
      } finally {
        clearInterval(scrape);
        await gw.stop();
        dropLog();
      }
    }
  } finally {
    await upstream.stop();
    otlp.server.close();
  }

  // The full variant must really have done its work, or its number means nothing.
  rmSync(logDir === dir ? accessLog : logDir, { recursive: true, force: true });
  if (logBytes === 0 && VARIANTS.includes('full')) throw new Error('the access log stayed empty');
  if (otlp.exports() === 0 && VARIANTS.includes('full')) throw new Error('the OTLP receiver got no spans');

  const m = (v: Variant, f: 'rps' | 'p99' | 'cpuUs') => median(samples[v].map((x) => x[f]));
  // Each round has every variant once: its ratio to that round's baseline (off; nginx for
  // nginx's log), then the median over rounds.
  const baseOf = (v: Variant): Variant => (v === 'nginxAccessLog' ? 'nginx' : v === 'nginx' ? 'nginx' : 'off');
  const ratios = (v: Variant, f: 'rps' | 'cpuUs') => samples[v].map((x, r) => x[f] / samples[baseOf(v)][r]![f]);
  const ratio = (v: Variant, f: 'rps' | 'cpuUs') => +median(ratios(v, f)).toFixed(3);
  /** the spread of the per-round ratios: how much one round says on this machine */
  const spread = (v: Variant) => { const xs = ratios(v, 'rps'); return [+Math.min(...xs).toFixed(3), +Math.max(...xs).toFixed(3)]; };
  const row = (v: Variant) => ({
    rps: Math.round(m(v, 'rps')), p99: m(v, 'p99'), cpuUsPerReq: +m(v, 'cpuUs').toFixed(1),
    baseline: baseOf(v),
    'rps vs baseline': ratio(v, 'rps'),
    'rps vs baseline, min–max over rounds': spread(v),
    'cpu vs baseline': ratio(v, 'cpuUs'),
  });
  const summary = Object.fromEntries(VARIANTS.filter((v) => samples[v].length).map((v) => [v, row(v)]));
  const targets = {
    'metrics costs ≤ 2% of req/s': summary.metrics ? summary.metrics['rps vs baseline'] >= 0.98 : null,
    'metrics + access log + tracing at 1% cost ≤ 5% of req/s': summary.full ? summary.full['rps vs baseline'] >= 0.95 : null,
  };
  const report = {
    date: new Date().toISOString(), generator, rounds, seconds, order, samples, summary, targets,
    work: { accessLogBytes: logBytes, otlpExports: otlp.exports(), otlpBytes: otlp.bytes() },
  };
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(join(root, 'bench', 'results', `observability-${generator}.json`), JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(JSON.stringify({ summary, targets, work: report.work }, null, 2) + '\n');
}

main().catch((err: unknown) => { process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`); process.exit(1); });
