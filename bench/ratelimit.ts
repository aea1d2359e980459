// npm run bench:ratelimit: issue #6 end-to-end numbers, same run, interleaved rounds.
//  1. The limiter's cost: small GET with no limit vs a per-IP limit that is never hit
//     (one gateway, uws, 1 thread, pinned like the main bench). Target ≤ 3% of req/s.
//  2. Front-end threads: the same gateway with workers 1 and 2 (unpinned: the threads
//     need both cores, which the upstream and the load generator share).
import { writeFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir, availableParallelism } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startProc, cpuSeconds, type Proc } from './processes.js';
import { here, root, short, seconds, rounds, log } from './scenario-settings.js';
import { runLoad, PROXY_CORE, LOAD_CORE, generator } from './load-runner.js';


function gatewayFile(upstreamPort: number, workers: number): string {
  const file = join(mkdtempSync(join(tmpdir(), 'bench-rl-')), 'gateway.yaml');
  writeFileSync(file, stringify({
    engine: 'uws', threads: workers, listen: { host: '127.0.0.1', port: 0 }, admin: { enabled: false },
    upstreams: { up: { targets: [{ url: `http://127.0.0.1:${upstreamPort}` }] } },
    routes: [
      { match: { path: '/none/small' }, upstream: 'up', rewrite: '/small' },
      { match: { path: '/limited/small' }, upstream: 'up', rewrite: '/small', rateLimit: [{ key: ['ip'], rate: 1_000_000, per: 'second', burst: 1_000_000 }] },
    ],
  }));
  return file;
}

async function measure(gw: Proc, path: string): Promise<{ rps: number; cpu: number; p99: number }> {
  const url = `http://127.0.0.1:${gw.port}${path}`;
  await runLoad(url, 1);
  const cpu0 = cpuSeconds(gw.child.pid!);
  const r = await runLoad(url, seconds);
  if (r.errors || r.non2xx) throw new Error(`${path}: ${r.errors} errors, ${r.non2xx} non-2xx`);
  return { rps: r.rps, p99: r.p99, cpu: ((cpuSeconds(gw.child.pid!) - cpu0) * 1e6) / Math.max(1, r.requests) };
}

const avg = (xs: Array<{ rps: number; cpu: number; p99: number }>) => ({
  rps: Math.round(xs.reduce((a, x) => a + x.rps, 0) / xs.length),
  cpuUsPerReq: +(xs.reduce((a, x) => a + x.cpu, 0) / xs.length).toFixed(1),
  p99: +(xs.reduce((a, x) => a + x.p99, 0) / xs.length).toFixed(2),
});

async function main(): Promise<void> {
  const cli = join(root, 'dist', 'src', 'cli.js');
  const upstream = await startProc(LOAD_CORE, process.execPath, [join(here, 'upstream-server.js')]);
  const none: Array<{ rps: number; cpu: number; p99: number }> = [];
  const limited: typeof none = [];
  const byWorkers = new Map<number, typeof none>();
  try {
    const gw = await startProc(PROXY_CORE, process.execPath, [cli, '--config', gatewayFile(upstream.port, 1)], { LOG_LEVEL: 'info' }, /"port":(\d+)/);
    try {
      // ABBA order: whatever drifts during the run (heat, GC state, neighbours) hits both alike.
      for (let r = 0; r < rounds * 2; r++) {
        if (r % 2 === 0) { none.push(await measure(gw, '/none/small')); limited.push(await measure(gw, '/limited/small')); }
        else { limited.push(await measure(gw, '/limited/small')); none.push(await measure(gw, '/none/small')); }
        log(`round ${r + 1}: no limit ${Math.round(none.at(-1)!.rps)} req/s, limit never hit ${Math.round(limited.at(-1)!.rps)} req/s`);
      }
    } finally { await gw.stop(); }
    const counts = [...new Set([1, 2, availableParallelism()])];
    for (let r = 0; r < rounds; r++) {
      for (const workers of counts) {
        const g = await startProc(null, process.execPath, [cli, '--config', gatewayFile(upstream.port, workers)], { LOG_LEVEL: 'info' }, /"port":(\d+)/);
        try {
          const m = await measure(g, '/none/small');
          byWorkers.set(workers, [...(byWorkers.get(workers) ?? []), m]);
          log(`round ${r + 1}: workers ${workers}: ${Math.round(m.rps)} req/s`);
        } finally { await g.stop(); }
      }
    }
  } finally {
    await upstream.stop();
  }
  const a = avg(none), b = avg(limited);
  const report = {
    setup: { date: new Date().toISOString(), mode: short ? 'short' : 'full', seconds, rounds, loadGenerator: generator, cores: availableParallelism() },
    limiterCost: {
      noLimit: a, limitNeverHit: b,
      rpsCost: +(1 - b.rps / a.rps).toFixed(3),
      cpuCostUsPerReq: +(b.cpuUsPerReq - a.cpuUsPerReq).toFixed(1),
      target: 'limiter costs ≤ 3% of req/s',
    },
    workers: [...byWorkers].map(([workers, xs]) => ({ workers, ...avg(xs) })),
  };
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(join(root, 'bench', 'results', `ratelimit-${report.setup.mode}-${generator}.json`), JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
}

main().catch((e) => { console.error(e); process.exit(1); });
