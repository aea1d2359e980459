// npm run bench:transcode: REST/JSON → gRPC through the gateway vs a grpc-js client calling
// the same server directly (the floor), unary Echo with a small (~10 fields) and a 64 KB
// message, 50 in flight, same run. Gateway pinned to core 0 (its front thread and pool
// workers share it); the gRPC server and the load generators on core 1.
// Targets (issue #15): transcoded req/s ≥ 1.0× the direct client's on the small message,
// ≥ 0.9× on the 64 KB one.
import { writeFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { stringify } from 'yaml';
import { startProc, cpuSeconds, pinned } from './processes.js';
import { here, root, short, seconds, rounds, log } from './scenario-settings.js';
import { runLoad, PROXY_CORE, LOAD_CORE, generator } from './load-runner.js';
import { benchMessage } from './transcode-payloads.js';
import { PROTO_DIR } from '../src/demo/catalog-service.js';

const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const poolWorkers = Number(process.env.BENCH_POOL_WORKERS ?? 2);
/** front-end threads (2: calls cross from a front thread to the main thread's pool) */
const threads = Number(process.env.BENCH_THREADS ?? 1);
/** another build to measure instead (an older commit's dist/src/cli.js), and its name for the thread count key */
const cli = process.env.BENCH_CLI ?? join(root, 'dist', 'src', 'cli.js');
const threadsKey = process.env.BENCH_THREADS_KEY ?? 'threads';
/** gzip|deflate: the gateway compresses its request messages to the upstream (grpc-encoding) */
const grpcCompression = process.env.BENCH_GRPC_COMPRESSION;
/** N: JSON answers of at least N bytes are gzip-compressed for the client (transcoding.compressAboveBytes) */
const compressAbove = Number(process.env.BENCH_COMPRESS_ABOVE ?? 0);
const variant = `${grpcCompression ? `-grpc-${grpcCompression}` : ''}${compressAbove ? `-json-gzip${compressAbove}` : ''}`;
/** BENCH_INLINE_BELOW=N sets transcoding.inlineBelowBytes (0: every call in the pool); unset, the gateway's default */
const inlineBelow = process.env.BENCH_INLINE_BELOW === undefined ? undefined : Number(process.env.BENCH_INLINE_BELOW);
const loadHeaders: Record<string, string> = { 'content-type': 'application/json', ...(compressAbove ? { 'accept-encoding': 'gzip' } : {}) };

function direct(port: number, size: string): Promise<{ rps: number; requests: number; errors: number }> {
  const [cmd, args] = pinned(LOAD_CORE, process.execPath, [join(here, 'grpc-direct-load.js'), String(port), String(connections), String(seconds), size]);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`direct client exited ${code}`))));
  });
}

async function main(): Promise<void> {
  const server = await startProc(LOAD_CORE, process.execPath, [join(here, 'grpc-server.js')]);
  const file = join(mkdtempSync(join(tmpdir(), 'bench-tc-')), 'gateway.yaml');
  writeFileSync(file, stringify({
    engine: 'uws', [threadsKey]: threads, listen: { host: '127.0.0.1', port: 0 }, admin: { enabled: false },
    transcoding: { workers: poolWorkers, concurrentTasksPerWorker: 32, ...(inlineBelow !== undefined ? { inlineBelowBytes: inlineBelow } : {}), ...(compressAbove ? { compressAboveBytes: compressAbove } : {}) },
    upstreams: { catalog: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${server.port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] }, ...(grpcCompression ? { compression: grpcCompression } : {}) } },
    routes: [{ transcode: { upstream: 'catalog' } }],
  }));
  // one front thread: pinned with the pool to core 0; two: unpinned (they need both cores)
  const gw = await startProc(threads > 1 ? null : PROXY_CORE, process.execPath, [cli, '--config', file], { LOG_LEVEL: 'info' }, /"port":(\d+)/);
  const rows: Array<{ size: string; target: string; rps: number; p99: number | null; cpuUsPerReq: number | null }> = [];
  try {
    for (const size of ['small', 'large'] as const) {
      const body = JSON.stringify(benchMessage(size));
      const url = `http://127.0.0.1:${gw.port}/v1/echo`;
      const probe = await fetch(url, { method: 'POST', body, headers: loadHeaders });
      if (probe.status !== 200) throw new Error(`probe: ${probe.status} ${await probe.text()}`);
      const acc = { direct: [] as number[], gw: [] as number[], p99: [] as number[], cpu: [] as number[] };
      for (let r = 0; r < rounds; r++) {
        const d = await direct(server.port, size);
        if (d.errors) throw new Error(`direct: ${d.errors} errors`);
        acc.direct.push(d.rps);
        await runLoad(url, 1, loadHeaders, { method: 'POST', body });
        const cpu0 = cpuSeconds(gw.child.pid!);
        const g = await runLoad(url, seconds, loadHeaders, { method: 'POST', body });
        if (g.errors || g.non2xx) throw new Error(`gateway: ${g.errors} errors, ${g.non2xx} non-2xx`);
        acc.gw.push(g.rps);
        acc.p99.push(g.p99);
        acc.cpu.push(((cpuSeconds(gw.child.pid!) - cpu0) * 1e6) / Math.max(1, g.requests));
        log(`${size} round ${r + 1}: direct grpc-js ${Math.round(d.rps)} calls/s, transcoded ${Math.round(g.rps)} req/s (p99 ${g.p99} ms)`);
      }
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      rows.push({ size, target: 'direct grpc-js client', rps: Math.round(mean(acc.direct)), p99: null, cpuUsPerReq: null });
      rows.push({ size, target: 'gateway (REST/JSON → gRPC)', rps: Math.round(mean(acc.gw)), p99: +mean(acc.p99).toFixed(2), cpuUsPerReq: +mean(acc.cpu).toFixed(1) });
    }
  } finally {
    await gw.stop();
    await server.stop();
  }
  const ratio = (size: string) => +(rows.find((r) => r.size === size && r.target.startsWith('gateway'))!.rps / rows.find((r) => r.size === size && r.target.startsWith('direct'))!.rps).toFixed(3);
  const report = {
    setup: { date: new Date().toISOString(), mode: short ? 'short' : 'full', seconds, rounds, connections, poolWorkers, threads, cli: process.env.BENCH_CLI ? 'BENCH_CLI' : 'this build', inlineBelowBytes: inlineBelow ?? "the build's default (4096 since 2026-12-08)", grpcCompression: grpcCompression ?? 'identity', compressAboveBytes: compressAbove, loadGenerator: generator },
    results: rows,
    transcodedVsDirect: { small: ratio('small'), large: ratio('large') },
    targets: { 'small: transcoded ≥ 1.0× the direct grpc-js client': ratio('small') >= 1, '64 KB: transcoded ≥ 0.9× the direct grpc-js client': ratio('large') >= 0.9 },
  };
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(join(root, 'bench', 'results', `transcode-${report.setup.mode}-${generator}${process.env.BENCH_INLINE_BELOW ? '-inline' : ''}${threads > 1 ? `-threads${threads}` : ''}${process.env.BENCH_CLI ? '-baseline' : ''}${variant}.json`), JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
}

main().catch((e) => { console.error(e); process.exit(1); });
