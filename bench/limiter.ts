// Micro-benchmark of limiter decisions/s: 1 and N threads on one shared table, one hot key
// and 100k spread keys. `npm run bench:limiter`; results in bench/results/limiter.json.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { cpus } from 'node:os';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GcraTable, makeLimit } from '../src/ratelimit/gcra-table.js';

const KEYS = Array.from({ length: 100_000 }, (_, i) => `api#0:100/1/50:ip|10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}\u0000`);

function run(buffer: SharedArrayBuffer, mode: 'hot' | 'spread', ms: number): number {
  const table = new GcraTable(buffer);
  const limit = makeLimit(1e9, 1, 1e6); // never denies: measures the decision itself
  const until = process.hrtime.bigint() + BigInt(ms) * 1_000_000n;
  let n = 0;
  while (process.hrtime.bigint() < until) {
    for (let i = 0; i < 1000; i++, n++) table.take(mode === 'hot' ? KEYS[0]! : KEYS[n % KEYS.length]!, limit);
  }
  return n;
}

if (!isMainThread) {
  const { buffer, mode, ms } = workerData as { buffer: SharedArrayBuffer; mode: 'hot' | 'spread'; ms: number };
  parentPort!.postMessage(run(buffer, mode, ms));
} else {
  const ms = Number(process.env.BENCH_MS ?? 2000);
  const threads = [1, cpus().length];
  const out: Array<{ mode: string; threads: number; decisionsPerSec: number }> = [];
  const file = fileURLToPath(import.meta.url);
  for (const mode of ['hot', 'spread'] as const) {
    for (const n of threads) {
      const buffer = GcraTable.allocate(262_144);
      const counts = await Promise.all(Array.from({ length: n }, () => new Promise<number>((resolve, reject) => {
        const w = new Worker(file, { workerData: { buffer, mode, ms } });
        w.once('message', resolve);
        w.once('error', reject);
      })));
      const perSec = Math.round(counts.reduce((a, b) => a + b, 0) / (ms / 1000));
      out.push({ mode, threads: n, decisionsPerSec: perSec });
      console.log(`${mode.padEnd(6)} ${n} thread(s): ${(perSec / 1e6).toFixed(2)} M decisions/s`);
    }
  }
  const dir = join(dirname(file), '..', '..', '..', 'bench', 'results'); // bench/dist/bench → the repository
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'limiter.json'), JSON.stringify({ date: new Date().toISOString(), node: process.version, cores: cpus().length, results: out }, null, 2) + '\n');
}
