// A/B of two gateway builds in one run: `node dist/bench/ab.js OTHER_DIST_CLI` runs this
// build (A) and another one (B, e.g. the previous main's dist/src/cli.js) on the same
// config, in interleaved rounds A B B A ... (ABBA cancels drift on a noisy machine), small
// and 64 KB GETs, and reports the medians and the B/A ratios. BENCH_ROUNDS (default 4),
// BENCH_SECONDS (default 8). Results in bench/results/ab-<generator>.json.
import { writeFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startProc, cpuSeconds } from './processes.js';
import { runLoad, generator, PROXY_CORE, LOAD_CORE } from './load-runner.js';
import { here, root } from './scenario-settings.js';
import { median } from './median.js';

const other = process.argv[2];
if (!other) { process.stderr.write('usage: node dist/bench/ab.js OTHER/dist/src/cli.js\n'); process.exit(2); }
const rounds = Number(process.env.BENCH_ROUNDS ?? 4);
const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const builds = { A: join(root, 'dist', 'src', 'cli.js'), B: other };

const upstream = await startProc(LOAD_CORE, process.execPath, [join(here, 'upstream-server.js')]);
const dir = mkdtempSync(join(tmpdir(), 'bench-ab-'));
const config = join(dir, 'gateway.yaml');
writeFileSync(config, stringify({
  // one front thread via --workers (the flag both old and new builds take; the config key was renamed)
  engine: 'uws', listen: { host: '127.0.0.1', port: 0 }, admin: { enabled: false },
  upstreams: { up: { targets: [{ url: `http://127.0.0.1:${upstream.port}` }] } },
  routes: [
    ...Array.from({ length: 100 }, (_, i) => ({ name: `svc${i}`, match: { prefix: `/svc${i}` }, upstream: 'up' })),
    { name: 'small', match: { path: '/small', methods: ['GET'] }, upstream: 'up' },
    { name: 'large', match: { path: '/large', methods: ['GET'] }, upstream: 'up' },
  ],
}));

type Key = 'A' | 'B';
const samples: Record<string, Record<Key, Array<{ rps: number; p99: number; cpuUs: number }>>> = { small: { A: [], B: [] }, large: { A: [], B: [] } };
const order: Key[] = [];
for (let r = 0; r < rounds; r++) order.push(...(r % 2 === 0 ? ['A', 'B'] as Key[] : ['B', 'A'] as Key[]));
for (const key of order) {
  const gw = await startProc(PROXY_CORE, process.execPath, [builds[key], '--config', config, '--workers', '1'], { LOG_LEVEL: 'info' }, /"port":(\d+)/);
  for (const scenario of ['small', 'large'] as const) {
    const url = `http://127.0.0.1:${gw.port}/${scenario}`;
    await runLoad(url, 1);
    const cpu0 = cpuSeconds(gw.child.pid!);
    const res = await runLoad(url, seconds);
    const cpuUs = ((cpuSeconds(gw.child.pid!) - cpu0) * 1e6) / Math.max(1, res.requests);
    samples[scenario]![key].push({ rps: res.rps, p99: res.p99, cpuUs });
    process.stderr.write(`${key} ${scenario.padEnd(5)} ${Math.round(res.rps)} req/s p99 ${res.p99} ms cpu ${cpuUs.toFixed(1)} µs/req\n`);
  }
  await gw.stop();
}
await upstream.stop();

const summary: Record<string, unknown> = {};
for (const [scenario, by] of Object.entries(samples)) {
  const m = (k: Key, f: 'rps' | 'p99' | 'cpuUs') => median(by[k].map((x) => x[f]));
  summary[scenario] = {
    A: { rps: m('A', 'rps'), p99: m('A', 'p99'), cpuUs: m('A', 'cpuUs') },
    B: { rps: m('B', 'rps'), p99: m('B', 'p99'), cpuUs: m('B', 'cpuUs') },
    'A/B rps': +(m('A', 'rps') / m('B', 'rps')).toFixed(3),
    'A/B cpu': +(m('A', 'cpuUs') / m('B', 'cpuUs')).toFixed(3),
  };
}
const report = { date: new Date().toISOString(), generator, rounds, seconds, builds, order, samples, summary };
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', `ab-${generator}.json`), JSON.stringify(report, null, 2) + '\n');
process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
