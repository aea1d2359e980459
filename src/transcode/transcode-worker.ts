// The Piscina worker entry: this worker's upstreams from workerData, then one call per task.
import { workerData } from 'node:worker_threads';
import { configure, runCall } from './transcode-call.js';
import type { PoolData } from './task.js';

configure(workerData as PoolData, true);

export default runCall;
