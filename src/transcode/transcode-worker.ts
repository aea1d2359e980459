// The Piscina worker entry. Configurations ("generations") arrive on a BroadcastChannel
// from the process's TranscodeHost and are compiled at once (an ack, or the error, goes
// back); a worker that starts late (a replacement) asks for what it missed.
import { BroadcastChannel, threadId, workerData } from 'node:worker_threads';
import { configure, runCall, useCancelFlags, useMetrics } from './transcode-call.js';
import { storeOf } from '../observability/observer.js';
import type { PoolMessage, WorkerSetup } from './task.js';

const setup = workerData as WorkerSetup;
useCancelFlags(setup.cancelFlags, true);
if (setup.metrics) useMetrics(storeOf(setup.metrics));
for (const [gen, data] of setup.generations) configure(gen, data);

const channel = new BroadcastChannel(setup.channel);
channel.unref();
channel.onmessage = (ev) => {
  const m = (ev as unknown as { data: PoolMessage }).data;
  if (m.type !== 'configure') return;
  let error: string | undefined;
  try { configure(m.gen, m.data); } catch (e) { error = (e as Error).message; }
  channel.postMessage({ type: 'ack', gen: m.gen, worker: threadId, error } satisfies PoolMessage);
};
channel.postMessage({ type: 'hello', worker: threadId } satisfies PoolMessage);

export default runCall;
