// The in-thread channel of inline WebSocket bridge calls: order, close on both ends after
// what was posted, and a listener's exception ending the channel instead of the process.
import t from 'tap';
import { localChannel, MESSAGES_PER_TURN } from '../src/transcode/local-channel.js';

const tick = () => new Promise((r) => setImmediate(r));

t.test('messages arrive in order, asynchronously; close reaches both ends after them', async (t) => {
  const { port1, port2 } = localChannel();
  const got: unknown[] = [];
  const closed: string[] = [];
  port2.on('message', (m) => got.push(m));
  port1.once('close', () => closed.push('port1'));
  port2.once('close', () => closed.push('port2'));
  port1.postMessage(1);
  port1.postMessage(2);
  t.same(got, [], 'not delivered inside postMessage (never re-entrant)');
  port1.close();
  port1.postMessage(3);
  await tick();
  t.same(got, [1, 2], 'what was posted before close arrives; nothing after');
  t.same(closed.sort(), ['port1', 'port2']);
});

t.test('a listener that throws closes the channel; the process goes on', async (t) => {
  const { port1, port2 } = localChannel();
  let closed = 0;
  port1.once('close', () => closed++);
  port2.on('message', () => { throw new Error('bug'); });
  let uncaught: Error | null = null;
  const onUncaught = (e: Error) => { uncaught = e; };
  process.once('uncaughtException', onUncaught);
  port1.postMessage('x');
  await tick();
  process.off('uncaughtException', onUncaught);
  t.equal(uncaught, null, 'no uncaught exception');
  t.equal(closed, 1, 'the sender saw the channel close');
  port1.postMessage('y'); // closed: dropped
});

t.test('what a listener posts is delivered after what was already waiting, never inside the listener', async (t) => {
  const a = localChannel();
  const b = localChannel();
  const got: string[] = [];
  a.port2.on('message', (m: string) => {
    got.push(m);
    if (m === 'a1') { b.port1.postMessage('b-from-a1'); got.push('a1 listener returned'); }
  });
  b.port2.on('message', (m: string) => got.push(m));
  a.port1.postMessage('a1');
  b.port1.postMessage('b1');
  a.port1.postMessage('a2');
  await tick();
  t.same(got, ['a1', 'a1 listener returned', 'b1', 'a2', 'b-from-a1'], 'one order for every channel of the thread');
});

t.test('a budgeted channel delivers MESSAGES_PER_TURN requests per event-loop turn, the rest in later turns, in one order with close last', async (t) => {
  const req = localChannel(true);
  const other = localChannel();
  const got: string[] = [];
  let closedAt = -1;
  req.port2.on('message', (m: number) => got.push(`r${m}`));
  other.port2.on('message', (m: string) => got.push(m));
  req.port2.once('close', () => { closedAt = got.length; });
  const n = MESSAGES_PER_TURN * 2 + 3;
  for (let i = 0; i < n; i++) req.port1.postMessage(i);
  other.port1.postMessage('after'); // posted after the requests: waits behind them
  req.port1.close();
  await Promise.resolve(); await Promise.resolve();
  t.equal(got.length, MESSAGES_PER_TURN, 'the first turn delivers the budget only');
  // a turn ends at the check phase: one setImmediate per turn
  const turns: number[] = [];
  while (got.length < n + 1) { await new Promise((r) => setImmediate(r)); turns.push(got.length); if (turns.length > 10) break; }
  t.same(got, [...Array.from({ length: n }, (_, i) => `r${i}`), 'after'], 'everything arrives, in the order posted');
  t.ok(turns.length >= 2, `spread over later turns (${turns.join(', ')})`);
  t.ok(turns.every((c, i) => c - (i ? turns[i - 1]! : MESSAGES_PER_TURN) <= MESSAGES_PER_TURN + 1), 'no turn delivers more than the budget (plus the unbudgeted message)');
  await new Promise((r) => setImmediate(r));
  t.equal(closedAt, n + 1, 'close comes after every message posted before it');
});

t.test('an unbudgeted channel is not held back', async (t) => {
  const { port1, port2 } = localChannel();
  const got: number[] = [];
  port2.on('message', (m: number) => got.push(m));
  for (let i = 0; i < MESSAGES_PER_TURN * 3; i++) port1.postMessage(i);
  await Promise.resolve();
  t.equal(got.length, MESSAGES_PER_TURN * 3, 'answers toward the client all go in the same microtask');
});
