// The access log's hand-written parts: the JSON line (any field value round-trips through
// JSON.parse, and a line is one ASCII line) and the line writer (lines reach the file within
// its flush interval, close writes the rest, SIGUSR1's reopen follows a rename, and the
// memory it holds is bounded: past MAX_PENDING, lines are dropped and counted, never cut).
import t from 'tap';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonLine, type AccessLogFields } from '../src/observability/access-log/access-log.js';
import { FLUSH_MS, LineWriter, MAX_PENDING } from '../src/observability/access-log/line-writer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const base: AccessLogFields = {
  start_time: '2026-12-02T10:00:00.000Z', duration_ms: 1.5, method: 'GET', path: '/a', query: '', protocol: 'HTTP/1.1',
  status: 200, response_flags: '-', bytes_received: 0, bytes_sent: 10, route: 'r', upstream: 'up', upstream_target: '127.0.0.1:80',
  upstream_duration_ms: null, retries: 0, request_id: 'id', trace_id: '', consumer: '', client_ip: '127.0.0.1', user_agent: '',
};

t.test('a JSON line round-trips any value, on one ASCII line', async (t) => {
  const text = fc.string({ unit: 'binary', maxLength: 40 });
  fc.assert(fc.property(
    fc.record({ path: text, query: text, route: text, request_id: text, consumer: text, user_agent: text }),
    fc.dictionary(fc.string({ maxLength: 8 }), text, { maxKeys: 3 }),
    fc.double({ min: 0, max: 1e6, noNaN: true }),
    (values, headers, ms) => {
      const f: AccessLogFields = { ...base, ...values, duration_ms: Math.round(ms * 1000) / 1000, request_headers: headers };
      const line = jsonLine(f);
      if (!line.endsWith('}\n') || line.slice(0, -1).includes('\n') || /[^\x20-\x7e\n]/.test(line)) return false;
      const back = JSON.parse(line) as AccessLogFields;
      // Lone surrogates cannot survive any JSON encoder; JSON.stringify's own escaping is the reference.
      return JSON.stringify(back) === JSON.stringify(JSON.parse(JSON.stringify(f)));
    },
  ), { numRuns: 2000 });
  const l = JSON.parse(jsonLine({ ...base, duration_ms: 12.005, upstream_duration_ms: 0.25 })) as AccessLogFields;
  t.equal(l.duration_ms, 12.005);
  t.equal(l.upstream_duration_ms, 0.25);
  t.equal(Object.keys(l).join(), Object.keys(base).join(), 'fields in the documented order');
});

t.test('lines reach the file within the flush interval; close writes the rest', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'gw-lw-')), 'sub', 'access.log');
  const w = new LineWriter(file);
  w.write('one\n');
  t.equal(readFileSync(file, 'utf8'), '', 'not written on the request path');
  await sleep(FLUSH_MS + 300);
  t.equal(readFileSync(file, 'utf8'), 'one\n');
  for (let i = 0; i < 1000; i++) w.write(`line ${i}\n`);
  w.close();
  await sleep(100);
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  t.equal(lines.length, 1001, 'every line, in order');
  t.equal(lines.at(-1), 'line 999');
  w.write('after close\n');
  await sleep(FLUSH_MS + 100);
  t.notOk(readFileSync(file, 'utf8').includes('after close'));
});

t.test('reopen follows a rename (logrotate)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-lw-'));
  const file = join(dir, 'access.log');
  const w = new LineWriter(file);
  w.write('before\n');
  await sleep(FLUSH_MS + 200);
  renameSync(file, `${file}.1`);
  w.reopen();
  w.write('after\n');
  w.close();
  await sleep(100);
  t.equal(readFileSync(`${file}.1`, 'utf8'), 'before\n');
  t.equal(readFileSync(file, 'utf8'), 'after\n');
});

t.test('bounded: past MAX_PENDING lines are dropped whole and counted', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'gw-lw-')), 'access.log');
  const w = new LineWriter(file);
  const line = `${'x'.repeat(999)}\n`;
  const n = Math.ceil((MAX_PENDING * 1.5) / line.length);
  for (let i = 0; i < n; i++) w.write(line); // one turn: the disk cannot take any of it yet
  t.ok(w.dropped > 0, `${w.dropped} dropped`);
  t.ok(w.dropped < n / 2, 'most were kept');
  w.close();
  await sleep(200);
  const text = readFileSync(file, 'utf8');
  t.equal(text.length % line.length, 0, 'no line was cut');
  t.equal(text.length / line.length, n - w.dropped, 'what was not dropped was written');
  t.ok(text.length <= MAX_PENDING + 64 * 1024, 'held at most MAX_PENDING (plus one buffer)');
});
