// The Piscina worker entry. Configurations ("generations") arrive on a BroadcastChannel
// from the process's TranscodeHost and are compiled at once (an ack, or the error, goes
// back); a worker that starts late (a replacement) asks for what it missed.
import { BroadcastChannel, threadId, workerData } from 'node:worker_threads';
import { configure, runCall, useCancelFlags, useMetrics } from './transcode-call.js';
import { storeOf } from '../observability/observer.js';
import type { PoolData, PoolMessage, PoolTask, TranscodeTask, WorkerSetup } from './task.js';
import { Piscina } from 'piscina';
import { compose, configureAggregates, pick } from '../aggregate/compose.js';
import type { PickResult } from '../aggregate/aggregate-task.js';

const setup = workerData as WorkerSetup;
useCancelFlags(setup.cancelFlags, true);
if (setup.metrics) useMetrics(storeOf(setup.metrics));
function configureAll(gen: number, data: PoolData): void {
  configure(gen, data);
  configureAggregates(gen, data.aggregates);
}

for (const [gen, data] of setup.generations) configureAll(gen, data);

const channel = new BroadcastChannel(setup.channel);
channel.unref();
channel.onmessage = (ev) => {
  const m = (ev as unknown as { data: PoolMessage }).data;
  if (m.type !== 'configure') return;
  let error: string | undefined;
  try { configureAll(m.gen, m.data); } catch (e) { error = (e as Error).message; }
  channel.postMessage({ type: 'ack', gen: m.gen, worker: threadId, error } satisfies PoolMessage);
};
channel.postMessage({ type: 'hello', worker: threadId } satisfies PoolMessage);

/** A pick's answer, its body handed back (transferred, not copied). */
class MovedPick {
  constructor(private readonly value: PickResult) {}
  get [Piscina.transferableSymbol](): ArrayBuffer[] { return [this.value.body]; }
  get [Piscina.valueSymbol](): PickResult { return this.value; }
}

export default function runTask(task: PoolTask): unknown {
  if (task.kind === 'compose') return compose(task);
  if (task.kind === 'pick') return Piscina.move(new MovedPick(pick(task)) as never);
  return runCall(task as TranscodeTask);
}
