// V8's heap growth, for every thread of the process (V8 flags are process-wide; the main
// isolate reads this one at each full GC, worker isolates too).
//
// Why: V8's adaptive factor keeps a small old generation close to its live size, and it
// starts marking as soon as the room left is smaller than the young generation. Under large
// messages (a 64 KB transcoded call holds its buffers across a scavenge or two) every
// thread then ran several full GCs a second; a fixed 4× (V8's own largest factor) removed
// three quarters of them. Measured in docs/architecture.md (Heap growth).
import { setFlagsFromString } from 'node:v8';

const FLAG = '--heap-growing-percent';
let applied: number | null = null;

/** Sets the growth (0: V8's own heuristic). A flag given on node's command line wins. */
export function applyHeapGrowth(percent: number): void {
  if (percent === applied || process.execArgv.some((a) => a.startsWith(FLAG) || a.startsWith('--heap_growing_percent'))) return;
  setFlagsFromString(`${FLAG}=${percent}`);
  applied = percent;
}
