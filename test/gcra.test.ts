// The shared limiter core: exact under concurrency from several threads, and a bounded
// table that keeps working under far more keys than slots.
import t from 'tap';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { GcraTable, makeLimit, fingerprint, randomSeed } from '../src/ratelimit/gcra-table.js';

const workerFile = fileURLToPath(new URL('./helpers/gcra-worker.js', import.meta.url));

t.test('4 threads on one key admit within [R·t + B − 1%, R·t + B]', async (t) => {
  const buffer = GcraTable.allocate(1024);
  const control = new SharedArrayBuffer(16);
  // burst 200: a thread stall under 200 ms (a noisy machine) loses no tokens
  const rate = 1000, burst = 200, seconds = 2;
  const workers = Array.from({ length: 4 }, () => new Worker(workerFile, { workerData: { buffer, control, rate, burst, key: 'hot' } }));
  await Promise.all(workers.map((w) => new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); })));
  const results = workers.map((w) => new Promise<{ allowed: number; denied: number; lastNs: bigint }>((resolve) => w.once('message', resolve)));
  // every thread is ready: start them together, with one deadline
  const startNs = process.hrtime.bigint();
  new BigInt64Array(control, 8, 1)[0] = startNs + BigInt(seconds * 1e9);
  Atomics.store(new Int32Array(control, 0, 1), 0, 1);
  Atomics.notify(new Int32Array(control, 0, 1), 0);
  const done = await Promise.all(results);
  const elapsed = Number(process.hrtime.bigint() - startNs) / 1e9;
  const allowed = done.reduce((a, r) => a + r.allowed, 0);
  const denied = done.reduce((a, r) => a + r.denied, 0);
  const max = rate * seconds + burst;
  // t: from the start to the last decision (≥ 2 s; a preempted thread may decide just after the deadline)
  const window = Number(done.reduce((a, r) => (r.lastNs > a ? r.lastNs : a), 0n) - startNs) / 1e9;
  const bound = Math.floor(rate * window) + burst;
  t.ok(allowed <= bound, `admitted ${allowed} ≤ ${bound} (R·t + B over the ${window.toFixed(4)} s the limiter saw)`);
  t.ok(allowed >= max * 0.99, `admitted ${allowed} ≥ ${max * 0.99} (R·t + B − 1%)`);
  t.ok(denied > allowed, `the key was hammered (${denied} denied, elapsed ${elapsed.toFixed(2)} s)`);
  t.ok(done.every((r) => r.allowed > 0), 'every thread got admits');
});

t.test('burst, refill, remaining and retry-after', async (t) => {
  const table = new GcraTable(GcraTable.allocate(64));
  const limit = makeLimit(10, 1, 5); // 10/s, burst 5
  const first = table.take('k', limit);
  t.same([first.allowed, first.remaining], [true, 4]);
  for (let i = 0; i < 4; i++) t.ok(table.take('k', limit).allowed);
  const denied = table.take('k', limit);
  t.equal(denied.allowed, false);
  t.ok(denied.retryAfterNs > 0n && denied.retryAfterNs <= 100_000_000n, `retry after ${denied.retryAfterNs} ns (≤ one interval)`);
  await new Promise((r) => setTimeout(r, 110));
  t.ok(table.take('k', limit).allowed, 'one token back after one interval');
  t.equal(table.take('other', limit).remaining, 4, 'keys are independent');
});

t.test('1,000,000 distinct keys through 65,536 slots: expired slots are reclaimed, pressure is counted', async (t) => {
  const table = new GcraTable(GcraTable.allocate(65_536));
  const limit = makeLimit(1_000_000, 1, 1); // 1 µs interval: a key's slot is idle again 1 µs later
  for (let i = 0; i < 1_000_000; i++) table.take(`ip-${i}`, limit);
  const s = table.stats();
  t.equal(s.decisions, 1_000_000n);
  t.ok(s.full < 1000n, `table-full answers: ${s.full}`);
  // long-lived keys fill it up: pressure is reported and onFull applies
  const slow = makeLimit(1, 3600, 1, 'deny');
  const strict = new GcraTable(GcraTable.allocate(1024));
  let full = 0, deniedFull = 0;
  for (let i = 0; i < 5000; i++) { const d = strict.take(`k${i}`, slow); if (d.tableFull) { full++; if (!d.allowed) deniedFull++; } }
  t.equal(deniedFull, full, 'onFull: deny refuses every key that found the table full');
  t.ok(full > 3000, `with every slot busy, ${full} of 5000 new keys found the table full`);
  t.equal(strict.stats().full, BigInt(full));
  t.equal(strict.take('k0', slow).allowed, false, 'a key that has a slot keeps its state');
});

t.test('the fingerprint is seeded: another process start puts the same key elsewhere', async (t) => {
  const a = randomSeed(), b = randomSeed();
  t.not(a, b, 'two seeds differ');
  t.equal(fingerprint('client-key', a), fingerprint('client-key', a), 'same seed, same fingerprint');
  t.not(fingerprint('client-key', a), fingerprint('client-key', b), 'another seed, another fingerprint');
  const t1 = new GcraTable(GcraTable.allocate(64), a);
  const t2 = new GcraTable(t1.buffer, a);
  const lim = makeLimit(1, 3600, 1);
  t.ok(t1.take('x', lim).allowed);
  t.notOk(t2.take('x', lim).allowed, 'tables sharing buffer and seed share the bucket');
});

t.test('fingerprints are never 0 and differ for near keys', async (t) => {
  const seen = new Set<bigint>();
  let zeros = 0;
  for (let i = 0; i < 100_000; i++) {
    const f = fingerprint(`key-${i}`);
    if (f === 0n) zeros++;
    seen.add(f);
  }
  t.equal(zeros, 0, 'no fingerprint is 0');
  t.equal(seen.size, 100_000, '100,000 keys, 100,000 fingerprints');
});
