// The circuit breaker of a gRPC upstream, in the shared target state so that every worker
// and inline thread obeys one breaker (the HTTP breaker, src/upstream/breaker.ts, is one
// thread's object; its rules are the same). Closed: outcomes counted over windowMs in 7
// buckets; minRequests seen and failureRatio reached opens it. Open: calls refused until
// openMs passed. Half-open: halfOpenRequests probes; all succeeding closes it, one failing
// reopens it, probes unanswered after halfOpenTimeoutMs reopen it. Every transition is a
// compareExchange on the state word: one thread wins it, the others see its result.
import type { BreakerConfig } from '../config/types.js';
import type { GrpcTargetState } from './grpc-target-state.js';

const BUCKETS = 7;
const STATE = 1;
const PROBES = 2;
const PROBE_OK = 3;
/** the window's current bucket number (time / bucketMs, mod 2^31) */
const EPOCH = 4;
const CLOSED = 0;
const OPEN = 1;
const HALF_OPEN = 2;
const NAMES = ['closed', 'open', 'half-open'] as const;

export type Admission = 'yes' | 'probe' | 'no';

export class GrpcBreaker {
  private readonly slot: number;
  private readonly s: Int32Array;
  private readonly requests: Int32Array;
  private readonly failures: Int32Array;
  private readonly bucketMs: number;

  constructor(private readonly state: GrpcTargetState, upstream: string, private readonly cfg: BreakerConfig) {
    this.slot = state.slotOf(upstream, '#breaker');
    this.s = state.wordsOf(this.slot);
    this.requests = state.wordsOf(state.slotOf(upstream, '#breaker-requests'));
    this.failures = state.wordsOf(state.slotOf(upstream, '#breaker-failures'));
    this.bucketMs = Math.max(1, Math.floor(cfg.windowMs / BUCKETS));
  }

  get stateName(): (typeof NAMES)[number] { return NAMES[Atomics.load(this.s, STATE)] ?? 'closed'; }

  /** May a call go now? 'probe': as one of the half-open probes (its outcome is recorded, or released). */
  allow(now: number): Admission {
    let st = Atomics.load(this.s, STATE);
    if (st === HALF_OPEN && now - this.state.clock(this.slot) >= this.cfg.halfOpenTimeoutMs) { this.reopen(HALF_OPEN, now); st = OPEN; }
    if (st === OPEN) {
      if (now - this.state.clock(this.slot) < this.cfg.openMs) return 'no';
      if (Atomics.compareExchange(this.s, STATE, OPEN, HALF_OPEN) === OPEN) {
        Atomics.store(this.s, PROBES, 0);
        Atomics.store(this.s, PROBE_OK, 0);
        this.state.setClock(this.slot, now);
      }
      st = Atomics.load(this.s, STATE);
      if (st === OPEN) return 'no';
    }
    if (st === HALF_OPEN) {
      if (Atomics.add(this.s, PROBES, 1) < this.cfg.halfOpenRequests) return 'probe';
      Atomics.sub(this.s, PROBES, 1);
      return 'no';
    }
    return 'yes';
  }

  /** A probe ended without an outcome (the client left): its place is free again. */
  release(): void {
    if (Atomics.load(this.s, STATE) === HALF_OPEN && Atomics.load(this.s, PROBES) > 0) Atomics.sub(this.s, PROBES, 1);
  }

  retryAfterSec(now: number): number {
    return Math.max(1, Math.ceil((this.cfg.openMs - (now - this.state.clock(this.slot))) / 1000));
  }

  record(ok: boolean, probe: boolean, now: number): void {
    const st = Atomics.load(this.s, STATE);
    if (st === HALF_OPEN) {
      if (!probe) return; // a call admitted before the breaker opened: not a probe's verdict
      if (!ok) { this.reopen(HALF_OPEN, now); return; }
      if (Atomics.add(this.s, PROBE_OK, 1) + 1 >= this.cfg.halfOpenRequests && Atomics.compareExchange(this.s, STATE, HALF_OPEN, CLOSED) === HALF_OPEN) this.clearWindow();
      return;
    }
    if (st === OPEN) return;
    const b = this.advance(now);
    Atomics.add(this.requests, b, 1);
    if (!ok) Atomics.add(this.failures, b, 1);
    let req = 0;
    let fail = 0;
    for (let i = 1; i <= BUCKETS; i++) { req += Atomics.load(this.requests, i); fail += Atomics.load(this.failures, i); }
    if (req >= this.cfg.minRequests && fail / req >= this.cfg.failureRatio) this.reopen(CLOSED, now);
  }

  /** The bucket (1..7 in the slot) for `now`; whoever moves the epoch clears the buckets it skipped. */
  private advance(now: number): number {
    const epoch = Math.floor(now / this.bucketMs) % 2 ** 31;
    const seen = Atomics.load(this.s, EPOCH);
    if (seen !== epoch && Atomics.compareExchange(this.s, EPOCH, seen, epoch) === seen) {
      const steps = Math.min(BUCKETS, Math.max(1, epoch - seen));
      for (let i = 1; i <= steps; i++) {
        const k = 1 + ((epoch - steps + i) % BUCKETS);
        Atomics.store(this.requests, k, 0);
        Atomics.store(this.failures, k, 0);
      }
    }
    return 1 + (epoch % BUCKETS);
  }

  private reopen(from: number, now: number): void {
    this.state.setClock(this.slot, now);
    Atomics.compareExchange(this.s, STATE, from, OPEN);
  }

  private clearWindow(): void {
    for (let i = 1; i <= BUCKETS; i++) { Atomics.store(this.requests, i, 0); Atomics.store(this.failures, i, 0); }
  }
}
