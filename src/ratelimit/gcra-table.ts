// The limiter core: GCRA ("theoretical arrival time", one 64-bit word per key) in a
// SharedArrayBuffer, so every thread that is handed the buffer shares the same limits.
// A decision is one Atomics.compareExchange on a BigInt64Array (retried on contention):
// no locks, no messages, no allocation. Keys live in a fixed-capacity open-addressed table
// (linear probing) identified by a 64-bit fingerprint of the key string; a slot whose TAT
// lies in the past holds no state (a fresh key would get the same answer), so an idle slot
// is reclaimed by the next key that needs it. When no slot is free within the probe limit
// the table is full and `onFull` decides (fail open or closed); both are counted.

import { randomBytes } from 'node:crypto';

const PROBES = 32;
/** words per slot: [fingerprint, tat (ns on the monotonic clock)] */
const SLOT = 2;
/** counters at the end of the buffer: decisions, denied, full */
const COUNTERS = 4;

export interface Decision {
  allowed: boolean;
  /** requests left in the burst after this one */
  remaining: number;
  /** ns until the bucket is full again */
  resetNs: bigint;
  /** ns until a request would be allowed (0 when allowed) */
  retryAfterNs: bigint;
  /** the table had no slot for this key */
  tableFull: boolean;
}

export interface Limit {
  /** emission interval T = period / rate, ns */
  intervalNs: bigint;
  /** burst tolerance τ = T × (burst − 1), ns */
  toleranceNs: bigint;
  burst: number;
  /** no slot free for a new key: let it through (fail open) or refuse it */
  onFull: 'allow' | 'deny';
}

export function makeLimit(rate: number, periodSec: number, burst: number, onFull: 'allow' | 'deny' = 'allow'): Limit {
  const intervalNs = BigInt(Math.round((periodSec * 1e9) / rate));
  return { intervalNs, toleranceNs: intervalNs * BigInt(Math.max(burst, 1) - 1), burst: Math.max(burst, 1), onFull };
}

/** The home slot of the last fingerprint() call (saves a BigInt round trip per decision). */
let lastHome = 0;

/** Seeds the fingerprint so that a client cannot precompute keys that collide in the table
 * (they would share a bucket, or fill one probe run). One seed per process start, handed to
 * every thread with the buffer (they must agree). */
export function randomSeed(): number {
  return randomBytes(4).readUInt32LE(0) | 1;
}

/**
 * A 64-bit fingerprint built from two independent 32-bit hashes of the UTF-16 code units
 * (FNV-1a and a multiplicative hash, each finished with murmur3's fmix). Plain number
 * arithmetic: BigInt math per character cost more than the rest of the decision.
 * Never 0 (0 marks an empty slot).
 */
export function fingerprint(key: string, seed = 0): bigint {
  let h1 = (0x811c9dc5 ^ seed) | 0, h2 = (0x9747b28c ^ Math.imul(seed, 0x9e3779b1)) | 0;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  h1 ^= h1 >>> 16; h1 = Math.imul(h1, 0x85ebca6b); h1 ^= h1 >>> 13; h1 = Math.imul(h1, 0xc2b2ae35); h1 ^= h1 >>> 16;
  h2 ^= h2 >>> 16; h2 = Math.imul(h2, 0x85ebca6b); h2 ^= h2 >>> 13; h2 = Math.imul(h2, 0xc2b2ae35); h2 ^= h2 >>> 16;
  lastHome = h2 >>> 0;
  const fp = BigInt.asIntN(64, (BigInt(h1 >>> 0) << 32n) | BigInt(h2 >>> 0));
  return fp === 0n ? 1n : fp;
}

export class GcraTable {
  readonly words: BigInt64Array;
  private readonly mask: number;

  /** `buffer` from `GcraTable.allocate(capacity)`, possibly created by another thread. */
  /** `seed`: randomSeed() of this process (every thread sharing the buffer passes the same). */
  constructor(readonly buffer: SharedArrayBuffer, private readonly seed = 0) {
    this.words = new BigInt64Array(buffer);
    const capacity = (this.words.length - COUNTERS) / SLOT;
    if (capacity < 1 || (capacity & (capacity - 1)) !== 0) throw new Error('GCRA table capacity must be a power of two');
    this.mask = capacity - 1;
  }

  static allocate(capacity: number): SharedArrayBuffer {
    let cap = 1;
    while (cap < capacity) cap *= 2;
    return new SharedArrayBuffer((cap * SLOT + COUNTERS) * 8);
  }

  get capacity(): number { return this.mask + 1; }

  /** decisions, denied, table-full counts (shared by every thread) */
  stats(): { decisions: bigint; denied: bigint; full: bigint; used: number } {
    const base = this.capacity * SLOT;
    let used = 0;
    const now = process.hrtime.bigint();
    for (let i = 0; i < this.capacity; i++) if (this.words[i * SLOT]! !== 0n && this.words[i * SLOT + 1]! > now) used++;
    return { decisions: this.words[base]!, denied: this.words[base + 1]!, full: this.words[base + 2]!, used };
  }

  /** Finds (or claims) the slot of `fp`; -1 when the table is full. */
  private slotOf(fp: bigint, home32: number, now: bigint): number {
    const w = this.words;
    const home = home32 & this.mask;
    // Pass 1: the key's own slot, so that a reclaimable slot earlier in the run can
    // never give a key a second, fresh bucket. Slots are never emptied, so the run
    // ends at the first empty one.
    for (let p = 0, i = home; p < PROBES; p++, i = (i + 1) & this.mask) {
      const cur = Atomics.load(w, i * SLOT);
      if (cur === fp) return i * SLOT;
      if (cur === 0n) break;
    }
    // Pass 2: claim an empty slot, or an idle one (TAT in the past: it holds no state).
    for (let p = 0, i = home; p < PROBES; p++, i = (i + 1) & this.mask) {
      const at = i * SLOT;
      const cur = Atomics.load(w, at);
      if (cur === fp) return at; // claimed meanwhile by another thread for the same key
      if (cur !== 0n && Atomics.load(w, at + 1) > now) continue;
      if (Atomics.compareExchange(w, at, cur, fp) === cur) {
        if (cur !== 0n) Atomics.store(w, at + 1, 0n);
        return at;
      }
      if (Atomics.load(w, at) === fp) return at;
    }
    return -1;
  }

  /** One decision for `key` under `limit`, consuming `cost` (default 1) when allowed. */
  take(key: string, limit: Limit, cost = 1): Decision {
    const w = this.words;
    const base = this.capacity * SLOT;
    Atomics.add(w, base, 1n);
    const now = process.hrtime.bigint();
    const fp = fingerprint(key, this.seed);
    const at = this.slotOf(fp, lastHome, now);
    if (at < 0) {
      Atomics.add(w, base + 2, 1n);
      const allowed = limit.onFull === 'allow';
      if (!allowed) Atomics.add(w, base + 1, 1n);
      return { allowed, remaining: 0, resetNs: limit.intervalNs, retryAfterNs: allowed ? 0n : limit.intervalNs, tableFull: true };
    }
    const inc = limit.intervalNs * BigInt(cost);
    const ceiling = limit.toleranceNs + limit.intervalNs; // a full bucket: TAT may run this far ahead
    for (;;) {
      const tat = Atomics.load(w, at + 1);
      const start = tat > now ? tat : now;
      const next = start + inc;
      if (next - now > ceiling) {
        Atomics.add(w, base + 1, 1n);
        const retry = next - ceiling - now;
        return { allowed: false, remaining: 0, resetNs: start - now, retryAfterNs: retry, tableFull: false };
      }
      if (Atomics.compareExchange(w, at + 1, tat, next) === tat) {
        const remaining = Number((ceiling - (next - now)) / limit.intervalNs);
        return { allowed: true, remaining, resetNs: next - now, retryAfterNs: 0n, tableFull: false };
      }
    }
  }
}
