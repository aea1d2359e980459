// Circuit breaker for an upstream. Closed: outcomes are counted in a sliding window of 10
// buckets; when at least minRequests were seen and the failure ratio reaches
// failureRatio, it opens. Open: requests are refused (503 with Retry-After) until openMs
// has passed. Half-open: up to halfOpenRequests probes go through; all succeeding closes
// it, any failing opens it again. A probe that ends without an outcome (the client left,
// no target could be picked) gives its slot back; probes still unanswered after
// halfOpenTimeoutMs reopen it, so half-open can never get stuck.
import type { BreakerConfig } from '../config/types.js';

export type BreakerState = 'closed' | 'open' | 'half-open';
const BUCKETS = 10;

export class CircuitBreaker {
  state: BreakerState = 'closed';
  private openedAt = 0;
  private probes = 0;
  private probeSuccesses = 0;
  private readonly requests = new Uint32Array(BUCKETS);
  private readonly failures = new Uint32Array(BUCKETS);
  private bucketStart = 0;
  private bucket = 0;
  private readonly bucketMs: number;

  constructor(private readonly cfg: BreakerConfig) {
    this.bucketMs = Math.max(1, Math.floor(cfg.windowMs / BUCKETS));
  }

  private halfOpenedAt = 0;

  /** May a request go to the upstream now? 'probe': yes, as one of the half-open probes (report its outcome, or releaseProbe). */
  allow(now: number): boolean | 'probe' {
    if (this.state === 'half-open' && now - this.halfOpenedAt >= this.cfg.halfOpenTimeoutMs) this.open(now);
    if (this.state === 'open') {
      if (now - this.openedAt < this.cfg.openMs) return false;
      this.state = 'half-open';
      this.halfOpenedAt = now;
      this.probes = 0;
      this.probeSuccesses = 0;
    }
    if (this.state === 'half-open') {
      if (this.probes >= this.cfg.halfOpenRequests) return false;
      this.probes++;
      return 'probe';
    }
    return true;
  }

  /** A probe ended without an outcome: its slot is free again. */
  releaseProbe(): void {
    if (this.state === 'half-open' && this.probes > 0) this.probes--;
  }

  /** Seconds until an open breaker lets probes through. */
  retryAfterSec(now: number): number {
    return Math.max(1, Math.ceil((this.cfg.openMs - (now - this.openedAt)) / 1000));
  }

  record(ok: boolean, now: number): void {
    if (this.state === 'half-open') {
      if (!ok) { this.open(now); return; }
      if (++this.probeSuccesses >= this.cfg.halfOpenRequests) this.close(now);
      return;
    }
    if (this.state === 'open') return;
    this.advance(now);
    this.requests[this.bucket]!++;
    if (!ok) this.failures[this.bucket]!++;
    let req = 0, fail = 0;
    for (let i = 0; i < BUCKETS; i++) { req += this.requests[i]!; fail += this.failures[i]!; }
    if (req >= this.cfg.minRequests && fail / req >= this.cfg.failureRatio) this.open(now);
  }

  private advance(now: number): void {
    if (this.bucketStart === 0) this.bucketStart = now;
    let steps = Math.floor((now - this.bucketStart) / this.bucketMs);
    if (steps <= 0) return;
    if (steps > BUCKETS) steps = BUCKETS;
    for (let i = 0; i < steps; i++) {
      this.bucket = (this.bucket + 1) % BUCKETS;
      this.requests[this.bucket] = 0;
      this.failures[this.bucket] = 0;
    }
    this.bucketStart = now;
  }

  private open(now: number): void {
    this.state = 'open';
    this.openedAt = now;
  }

  private close(now: number): void {
    this.state = 'closed';
    this.requests.fill(0);
    this.failures.fill(0);
    this.bucketStart = now;
  }
}
