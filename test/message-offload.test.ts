// InOrder (src/transcode/message-offload.ts): a WebSocket bridge's messages keep their order
// while some are mapped in the pool — a value runs at once when nothing waits, a promise
// holds back what follows it, a failure is reported and the order goes on. And poolOffload's
// answers: a mapping error, a full pool and a pool failure each become the status the
// bridge closes with.
import t from 'tap';
import { InOrder, poolOffload } from '../src/transcode/message-offload.js';
import { QueueFullError, type Transcoder } from '../src/transcode/transcoder.js';
import type { PoolTask, ResultOf, TranscodeTask } from '../src/transcode/task.js';

const later = <T>(v: T, ms: number) => new Promise<T>((r) => setTimeout(() => r(v), ms));

t.test('a value with nothing waiting runs at once, in the caller', async (t) => {
  const seen: number[] = [];
  const q = new InOrder(() => t.fail('no error'));
  q.push(1, (v) => seen.push(v));
  q.push(2, (v) => seen.push(v));
  t.same(seen, [1, 2], 'both ran synchronously');
});

t.test('a slow promise holds back later values and faster promises', async (t) => {
  const seen: string[] = [];
  const q = new InOrder(() => t.fail('no error'));
  q.push('a', (v) => seen.push(v));
  q.push(later('b', 30), (v) => seen.push(v));
  q.push('c', (v) => seen.push(v));
  q.push(later('d', 1), (v) => seen.push(v));
  q.push('e', (v) => seen.push(v));
  t.same(seen, ['a'], 'only what came before the promise ran');
  await later(null, 60);
  t.same(seen, ['a', 'b', 'c', 'd', 'e'], 'the order of push, not of settling');
  q.push('f', (v) => seen.push(v));
  t.same(seen.at(-1), 'f', 'with the queue empty again, a value runs at once');
});

t.test('a step that throws or a promise that rejects is reported; the order goes on', async (t) => {
  const errors: string[] = [];
  const seen: number[] = [];
  const q = new InOrder((e) => errors.push(e.message));
  q.push(later(1, 5), () => { throw new Error('step broke'); });
  q.push(Promise.reject(new Error('work broke')), () => t.fail('not run'));
  q.push(3, (v) => seen.push(v));
  await later(null, 30);
  t.same(errors, ['step broke', 'work broke']);
  t.same(seen, [3]);
});

const task = { kind: 'call', gen: 1, upstream: 'u', binding: { grpcPath: '/p.S/M' }, vars: [], query: '', body: null, metadata: [], deadline: 0, emitDefaults: false } as unknown as TranscodeTask;
const pool = (run: (t: TranscodeTask) => Promise<unknown>): Transcoder => ({ run: <T extends PoolTask>(x: T) => run(x as TranscodeTask) as Promise<ResultOf<T>> });

t.test('poolOffload: the task carries only the mapping; its answers become bytes or a status', async (t) => {
  let sent: TranscodeTask | null = null;
  const ok = poolOffload(pool(async (x) => { sent = x; return { status: 200, headers: [], body: new TextEncoder().encode('{"a":1}').buffer }; }), 1024);
  const bytes = new Uint8Array([1, 2, 3]);
  const r = await ok.map(task, 'decode', bytes);
  t.same('bytes' in r ? Buffer.from(r.bytes).toString() : r, '{"a":1}');
  t.equal(sent!.mapOnly, 'decode');
  t.same(new Uint8Array(sent!.body!), bytes, 'a copy of the message');
  t.notOk(sent!.socket ?? sent!.stream, 'no ports: they stay with the call');
  const bad = poolOffload(pool(async () => ({ status: 400, headers: [], body: new TextEncoder().encode('text: expected a string').buffer })), 1024);
  t.same(await bad.map(task, 'encode', bytes), { error: { code: 3, details: 'text: expected a string', metadata: [] } }, 'a mapping error: INVALID_ARGUMENT with the reason');
  const full = poolOffload(pool(async () => { throw new QueueFullError('full'); }), 1024);
  t.match(await full.map(task, 'encode', bytes), { error: { code: 14 } }, 'a full pool: UNAVAILABLE');
  const broken = poolOffload(pool(async () => { throw new Error('worker died'); }), 1024);
  t.match(await broken.map(task, 'encode', bytes), { error: { code: 13, details: 'the gateway could not map the message' } }, 'anything else: INTERNAL, without the internal message');
});
