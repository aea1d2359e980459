// Where should an aggregate's HTTP backend calls be made? Issue #13 asks to measure it. A
// model of both placements in one small server (node:http front, one Piscina worker, both
// pinned to core 0; the /kb upstream and the load generator on core 1), 50 connections:
//   front: the front thread makes the two calls (keep-alive agent), the worker parses and
//          merges the two bodies (transferred both ways) — what the gateway does;
//   worker: the worker makes the two calls with its own agent and merges.
// Same run, interleaved rounds. Written to bench/results/aggregate-placement.json.
import http from 'node:http';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import { processCpuUs, startProc } from './processes.js';
import { here, root, short, seconds, rounds, log } from './scenario-settings.js';
import { runLoad, LOAD_CORE, PROXY_CORE, generator } from './load-runner.js';
import { get } from './aggregate-placement-worker.js';
import { spawnSync } from 'node:child_process';

// Pin this process (server + worker) to the proxy core, as the gateway is in the other benchmarks.
if (PROXY_CORE !== null) spawnSync('taskset', ['-pc', String(PROXY_CORE), String(process.pid)]);

const upstream = await startProc(LOAD_CORE, process.execPath, [join(here, 'upstream-server.js')]);
const pool = new Piscina({ filename: join(here, 'aggregate-placement-worker.js'), minThreads: 1, maxThreads: 1, concurrentTasksPerWorker: 64 });
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
let mode: 'front' | 'worker' = 'front';
const server = http.createServer((req, res) => {
  const answer = (body: ArrayBuffer) => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.byteLength }); res.end(Buffer.from(body)); };
  const failed = () => { res.writeHead(502); res.end(); };
  if (mode === 'worker') { pool.run({ kind: 'fetchAndMerge', port: upstream.port }).then(answer, failed); return; }
  Promise.all([get(agent, '127.0.0.1', upstream.port), get(agent, '127.0.0.2', upstream.port)])
    .then(([a, b]) => pool.run({ kind: 'merge', a, b }, { transferList: [a, b] as never }))
    .then(answer, failed);
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
const acc: Record<string, { rps: number[]; p50: number[]; p99: number[]; cpu: number[] }> = {};
for (let r = 0; r < rounds; r++) {
  for (const m of ['front', 'worker'] as const) {
    mode = m;
    await runLoad(url, 1);
    const c0 = processCpuUs();
    const res = await runLoad(url, seconds);
    if (res.errors || res.non2xx) throw new Error(`${m}: ${res.errors} errors, ${res.non2xx} non-2xx`);
    const us = (processCpuUs() - c0) / Math.max(1, res.requests);
    const a = (acc[m] ??= { rps: [], p50: [], p99: [], cpu: [] });
    a.rps.push(res.rps); a.p50.push(res.p50); a.p99.push(res.p99); a.cpu.push(us);
    log(`round ${r + 1} ${m}: ${Math.round(res.rps)} req/s, p99 ${res.p99} ms, ${us.toFixed(1)} µs CPU per request`);
  }
}
const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
const rows = Object.entries(acc).map(([m, a]) => ({ calls: m === 'front' ? 'front thread (gateway\'s choice)' : 'pool worker, own agent', rps: Math.round(mean(a.rps)), p50: +mean(a.p50).toFixed(2), p99: +mean(a.p99).toFixed(2), cpuUsPerReq: +mean(a.cpu).toFixed(1) }));
const report = {
  setup: { date: new Date().toISOString(), mode: short ? 'short' : 'full', seconds, rounds, connections: Number(process.env.BENCH_CONNECTIONS ?? 50), loadGenerator: generator, model: 'node:http front + 1 Piscina worker on one core; two HTTP GET /kb (949 B) per request' },
  results: rows,
  workerVsFront: { rps: +(rows[1]!.rps / rows[0]!.rps).toFixed(3), cpu: +(rows[1]!.cpuUsPerReq / rows[0]!.cpuUsPerReq).toFixed(3) },
};
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'aggregate-placement.json'), JSON.stringify(report, null, 2) + '\n');
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
server.close();
await pool.destroy();
await upstream.stop();
process.exit(0);
