// Worker for the limiter exactness test: waits for the start signal, then hammers one key
// until the shared deadline and counts admits.
import { parentPort, workerData } from 'node:worker_threads';
import { GcraTable, makeLimit } from '../../src/ratelimit/gcra-table.js';

const { buffer, control, rate, burst, key } = workerData as { buffer: SharedArrayBuffer; control: SharedArrayBuffer; rate: number; burst: number; key: string };
const table = new GcraTable(buffer);
const limit = makeLimit(rate, 1, burst);
const flag = new Int32Array(control, 0, 1);
const deadline = new BigInt64Array(control, 8, 1);
parentPort!.postMessage('ready');
Atomics.wait(flag, 0, 0);
const untilNs = deadline[0]!;
let allowed = 0, denied = 0;
let lastNs = 0n;
while (process.hrtime.bigint() < untilNs) {
  if (table.take(key, limit).allowed) allowed++;
  else denied++;
  // a thread preempted between the check and take() decides after the deadline: the window
  // the limiter actually saw ends at the last decision, not at the deadline
  lastNs = process.hrtime.bigint();
}
parentPort!.postMessage({ allowed, denied, lastNs });
