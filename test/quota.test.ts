// The quota table: exact under concurrency (4 threads, one consumer), calendar periods
// (a new day or month starts from zero), and counting without a limit.
import t from 'tap';
import { Worker } from 'node:worker_threads';
import { QuotaTable, periodOf } from '../src/ratelimit/quota-table.js';

t.test('4 threads over one consumer admit exactly the quota', async (t) => {
  const buffer = QuotaTable.allocate(1024);
  const workerFile = new URL('./helpers/quota-worker.js', import.meta.url);
  const admitted = await Promise.all(Array.from({ length: 4 }, () => new Promise<number>((resolve, reject) => {
    const w = new Worker(workerFile, { workerData: { buffer, tries: 20_000, limit: 50_000 } });
    w.once('message', resolve);
    w.once('error', reject);
  })));
  t.equal(admitted.reduce((a, b) => a + b, 0), 50_000, `admitted ${admitted.join(' + ')}`);
  t.equal(new QuotaTable(buffer).used('alice', 'month'), 50_000);
});

t.test('a new period starts from zero; days and months follow UTC', async (t) => {
  const q = new QuotaTable(QuotaTable.allocate(64));
  const jan31 = Date.UTC(2026, 0, 31, 23, 59, 59);
  const feb1 = Date.UTC(2026, 1, 1, 0, 0, 1);
  t.equal(q.take('bob', 'month', 2, jan31).allowed, true);
  t.equal(q.take('bob', 'month', 2, jan31).allowed, true);
  t.equal(q.take('bob', 'month', 2, jan31).allowed, false, 'third in January: refused');
  t.same(q.take('bob', 'month', 2, feb1), { allowed: true, used: 1, endsAt: Date.UTC(2026, 2, 1) }, 'February starts over');
  t.equal(periodOf('day', jan31).endsAt, Date.UTC(2026, 1, 1));
  t.equal(periodOf('month', Date.UTC(2026, 11, 15)).endsAt, Date.UTC(2027, 0, 1), 'December ends at the new year');
  t.equal(q.used('carol', 'day'), 0, 'unknown consumer');
  for (let i = 0; i < 1000; i++) q.take('carol', 'day', Infinity);
  t.equal(q.used('carol', 'day'), 1000, 'counting without a limit');
});
