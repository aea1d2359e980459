// Worker for the quota exactness test: counts `tries` requests for one consumer against
// the shared quota table and reports how many were admitted.
import { parentPort, workerData } from 'node:worker_threads';
import { QuotaTable } from '../../src/ratelimit/quota-table.js';

const { buffer, tries, limit } = workerData as { buffer: SharedArrayBuffer; tries: number; limit: number };
const table = new QuotaTable(buffer);
let allowed = 0;
for (let i = 0; i < tries; i++) if (table.take('alice', 'month', limit).allowed) allowed++;
parentPort!.postMessage(allowed);
