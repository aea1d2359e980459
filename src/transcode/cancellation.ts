// Cancel flags for unary transcoded calls, shared by every thread of the process (front
// threads, the main thread, the pool's workers): one Int32Array on a SharedArrayBuffer.
// Slot 0 hands out sequence numbers (Atomics.add, so two threads never get the same one);
// a call's slot is 1 + seq % (length − 1), and holds seq once its client went away.
// No AbortSignal to Piscina: aborting a running task terminates its worker, and with it
// every other call that worker runs.
const SLOTS = 65536;

export function allocateCancelFlags(): SharedArrayBuffer {
  return new SharedArrayBuffer(SLOTS * 4);
}

export class Cancellations {
  private readonly flags: Int32Array;
  constructor(readonly buffer: SharedArrayBuffer) {
    this.flags = new Int32Array(buffer);
  }

  /** A cancel handle for the next unary call: put `seq` in the task, call `cancel` if the client leaves. */
  next(): { seq: number; cancel: () => void } {
    const seq = ((Atomics.add(this.flags, 0, 1) + 1) & 0x3fffffff) || 1;
    const slot = 1 + (seq % (this.flags.length - 1));
    Atomics.store(this.flags, slot, 0);
    return { seq, cancel: () => { Atomics.store(this.flags, slot, seq); } };
  }

  /** Has the call with this sequence number been cancelled? */
  cancelled(seq: number): boolean {
    return Atomics.load(this.flags, 1 + (seq % (this.flags.length - 1))) === seq;
  }
}
