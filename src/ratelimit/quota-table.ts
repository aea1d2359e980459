// Request quotas per consumer and calendar period (UTC day or month), in a
// SharedArrayBuffer shared by every thread and kept across reloads. One 64-bit word per
// consumer packs [period index (high 24 bits) | count (low 40 bits)], so counting, the
// limit check and the reset at a new period are one Atomics.compareExchange: exact under
// concurrency, no locks. Slots are found by the key fingerprint (open addressing) and are
// never reclaimed: quota keys are configured consumers, a bounded set.
import { fingerprint } from './gcra-table.js';

const SLOT = 2; // [fingerprint, packed]
const PROBES = 64;
const COUNT_BITS = 40n;
const COUNT_MASK = (1n << COUNT_BITS) - 1n;

export type QuotaPeriod = 'day' | 'month';

/** The period containing `ms` as a small integer, and when it ends. */
export function periodOf(per: QuotaPeriod, ms: number): { index: number; endsAt: number } {
  const d = new Date(ms);
  if (per === 'day') {
    const index = Math.floor(ms / 86_400_000);
    return { index, endsAt: (index + 1) * 86_400_000 };
  }
  const y = d.getUTCFullYear(), m = d.getUTCMonth();
  return { index: (y - 1970) * 12 + m, endsAt: Date.UTC(y, m + 1, 1) };
}

export interface QuotaDecision { allowed: boolean; used: number; endsAt: number }

export class QuotaTable {
  private readonly words: BigInt64Array;
  private readonly mask: number;
  /** counts that found no slot (the table is sized for far more consumers than configs hold) */
  full = 0;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.words = new BigInt64Array(buffer);
    this.mask = this.words.length / SLOT - 1;
  }

  static allocate(capacity = 65536): SharedArrayBuffer {
    let cap = 1;
    while (cap < capacity) cap *= 2;
    return new SharedArrayBuffer(cap * SLOT * 8);
  }

  private slotOf(key: string, claim: boolean): number {
    const w = this.words;
    const fp = fingerprint(key);
    for (let p = 0, i = Number(fp & BigInt(this.mask)); p < PROBES; p++, i = (i + 1) & this.mask) {
      const at = i * SLOT;
      const cur = Atomics.load(w, at);
      if (cur === fp) return at;
      if (cur !== 0n) continue;
      if (!claim) return -1;
      const won = Atomics.compareExchange(w, at, 0n, fp);
      if (won === 0n || won === fp) return at;
    }
    return -1;
  }

  /** Counts one request unless `limit` is reached this period (limit Infinity: count only). */
  take(key: string, per: QuotaPeriod, limit: number, now = Date.now()): QuotaDecision {
    const { index, endsAt } = periodOf(per, now);
    const at = this.slotOf(key, true);
    if (at < 0) { this.full++; return { allowed: true, used: 0, endsAt }; }
    const w = this.words;
    const period = BigInt(index);
    for (;;) {
      const old = Atomics.load(w, at + 1);
      const count = old >> COUNT_BITS === period ? Number(old & COUNT_MASK) : 0;
      if (count >= limit) return { allowed: false, used: count, endsAt };
      const next = (period << COUNT_BITS) | BigInt(count + 1);
      if (Atomics.compareExchange(w, at + 1, old, next) === old) return { allowed: true, used: count + 1, endsAt };
    }
  }

  /** Requests counted for `key` in the current period. */
  used(key: string, per: QuotaPeriod, now = Date.now()): number {
    const at = this.slotOf(key, false);
    if (at < 0) return 0;
    const v = Atomics.load(this.words, at + 1);
    return v >> COUNT_BITS === BigInt(periodOf(per, now).index) ? Number(v & COUNT_MASK) : 0;
  }
}
