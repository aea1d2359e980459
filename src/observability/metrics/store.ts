// Counters, gauges and histograms in one SharedArrayBuffer, updated with Atomics by every
// thread of the process (front-end threads, transcoding workers, the main thread) and read
// by the main thread for /metrics. No locks and no messages per request: a series is a slot
// of its family's open-addressed table, claimed once with a compare-and-swap and found
// again through a per-thread cache. A family holds at most `maxSeries` series; label sets
// past that (or too long to store) count in the family's overflow series, so client input
// can never grow the store (everything is sized at start).
//
// Slot layout (32-bit words): state (0 empty, 1 being claimed, 2 ready), label bytes,
// LABEL_WORDS of label text (`route="a",code="200"`, escaped once), then the values:
// counter: one 64-bit count (two words, carried by hand: Atomics has no 64-bit add on
// Uint32Array); gauge: one int32; histogram: a count per bucket (+Inf last), the sum in
// microseconds and the count, each 64-bit.

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface FamilyDef {
  name: string;
  help: string;
  type: MetricType;
  labels: readonly string[];
  /** histograms: upper bounds in the metric's unit (seconds), ascending */
  buckets?: readonly number[];
  /** gauges: the stored int32 is value × scale (e.g. 1e6 for microseconds) */
  scale?: number;
  /** series this family may hold (its overflow series not counted) */
  maxSeries: number;
}

const LABEL_BYTES = 256;
const LABEL_WORDS = LABEL_BYTES / 4;
const HEAD_WORDS = 2 + LABEL_WORDS;
const EMPTY = 0, CLAIMING = 1, READY = 2;
/** words before the families: the claimed-series count of each family lives in its own region */
const FAMILY_HEAD_WORDS = 2;

function valueWords(def: FamilyDef): number {
  if (def.type === 'counter') return 2;
  if (def.type === 'gauge') return 1;
  return (def.buckets!.length + 1 + 1) * 2; // the buckets (+Inf last), then the sum; the count is their total
}

const pow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(2, n)));

function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193); }
  return h >>> 0;
}

/** Prometheus label value escaping (backslash, quote, newline). */
export function escapeLabel(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One family's region of the buffer. */
export class Family {
  /** slots in the table: twice the series cap (load ≤ ½ keeps probes short), slot 0 is the overflow series */
  readonly slots: number;
  readonly slotWords: number;
  private readonly cache = new Map<string, number>();
  readonly buckets: readonly number[];
  private readonly bucketsUs: Float64Array;

  private readonly i32: Int32Array;

  constructor(readonly def: FamilyDef, private readonly u32: Uint32Array, private readonly bytes: Uint8Array, readonly base: number) {
    this.i32 = new Int32Array(u32.buffer);
    this.slots = pow2(def.maxSeries * 2 + 1);
    this.slotWords = HEAD_WORDS + valueWords(def);
    this.buckets = def.buckets ?? [];
    this.bucketsUs = Float64Array.from(this.buckets, (b) => b * 1e6);
  }

  static words(def: FamilyDef): number {
    return FAMILY_HEAD_WORDS + pow2(def.maxSeries * 2 + 1) * (HEAD_WORDS + valueWords(def));
  }

  private slotAt(i: number): number { return this.base + FAMILY_HEAD_WORDS + i * this.slotWords; }

  /** Marks slot 0 as the overflow series (once, by the thread that allocated the buffer). */
  init(): void {
    const at = this.slotAt(0);
    const text = encoder.encode('overflow="true"');
    this.bytes.set(text, (at + 2) * 4);
    this.u32[at + 1] = text.length;
    Atomics.store(this.u32, at, READY);
  }

  /** The value offset (word index) of the series with these label values. */
  series(values: readonly string[]): number {
    const key = values.join('\u0001');
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const at = this.find(key, values);
    if (at !== this.slotAt(0) + HEAD_WORDS) this.cache.set(key, at); // overflow lookups are not cached: the cache stays bounded
    return at;
  }

  private find(key: string, values: readonly string[]): number {
    const names = this.def.labels;
    let text = '';
    for (let i = 0; i < names.length; i++) text += `${i ? ',' : ''}${names[i]}="${escapeLabel(values[i] ?? '')}"`;
    const encoded = encoder.encode(text);
    const overflow = this.slotAt(0) + HEAD_WORDS;
    if (encoded.length > LABEL_BYTES) return overflow;
    const u32 = this.u32, mask = this.slots - 1;
    for (let n = 0, i = (hash(key) & mask) || 1; n < this.slots; n++, i = ((i + 1) & mask) || 1) {
      const at = this.slotAt(i);
      let state = Atomics.load(u32, at);
      if (state === EMPTY) {
        // A new series, while the family has room: claim the slot, write its labels, publish.
        if (Atomics.add(u32, this.base, 1) >= this.def.maxSeries) { Atomics.sub(u32, this.base, 1); return overflow; }
        if (Atomics.compareExchange(u32, at, EMPTY, CLAIMING) === EMPTY) {
          this.bytes.set(encoded, (at + 2) * 4);
          u32[at + 1] = encoded.length;
          Atomics.store(u32, at, READY);
          return at + HEAD_WORDS;
        }
        Atomics.sub(u32, this.base, 1); // another thread took it first: look at what it wrote
        state = Atomics.load(u32, at);
      }
      for (let spin = 0; state === CLAIMING && spin < 1_000_000; spin++) state = Atomics.load(u32, at);
      if (state !== READY) return overflow;
      if (u32[at + 1] === encoded.length && this.sameLabels(at, encoded)) return at + HEAD_WORDS;
    }
    return overflow;
  }

  private sameLabels(at: number, encoded: Uint8Array): boolean {
    const off = (at + 2) * 4, b = this.bytes;
    for (let i = 0; i < encoded.length; i++) if (b[off + i] !== encoded[i]) return false;
    return true;
  }

  /** counters */
  inc(values: readonly string[], by = 1): void { add64(this.u32, this.series(values), by); }
  /** counters, at a series() offset the caller keeps */
  incAt(at: number, by = 1): void { add64(this.u32, at, by); }

  /** gauges: sets */
  set(values: readonly string[], value: number): void { Atomics.store(this.i32, this.series(values), Math.round(value * (this.def.scale ?? 1))); }

  /** histograms: one observation, in seconds */
  observe(values: readonly string[], seconds: number): void { this.observeAt(this.series(values), seconds); }

  /** histograms, at a series() offset the caller keeps */
  observeAt(at: number, seconds: number): void {
    const us = seconds * 1e6;
    const b = this.bucketsUs;
    let i = 0;
    while (i < b.length && us > b[i]!) i++;
    const u32 = this.u32;
    add64(u32, at + i * 2, 1);
    add64(u32, at + (b.length + 1) * 2, Math.max(0, Math.round(us)));
  }

  /** Every ready series: its label text and values (for the renderer). */
  *read(): Generator<{ labels: string; value: number; buckets?: number[]; sum?: number; count?: number }> {
    const u32 = this.u32, i32 = this.i32;
    for (let i = 0; i < this.slots; i++) {
      const at = this.slotAt(i);
      if (Atomics.load(u32, at) !== READY) continue;
      const labels = decoder.decode(this.bytes.subarray((at + 2) * 4, (at + 2) * 4 + u32[at + 1]!));
      const v = at + HEAD_WORDS;
      if (this.def.type === 'counter') {
        const value = read64(u32, v);
        if (i === 0 && value === 0) continue; // an unused overflow series is not shown
        yield { labels, value };
      } else if (this.def.type === 'gauge') {
        const value = Atomics.load(i32, v) / (this.def.scale ?? 1);
        if (i === 0 && value === 0) continue;
        yield { labels, value };
      } else {
        const n = this.buckets.length + 1;
        const buckets: number[] = [];
        for (let k = 0; k < n; k++) buckets.push(read64(u32, v + k * 2));
        let count = 0;
        for (const c of buckets) count += c; // counted per bucket only: count and +Inf always agree
        if (i === 0 && count === 0) continue;
        yield { labels, value: count, buckets, sum: read64(u32, v + n * 2) / 1e6, count };
      }
    }
  }
}

/** Adds to a 64-bit count kept as two words (low, high). Lock-free: the low word's add tells whether it carried. */
export function add64(u32: Uint32Array, at: number, by: number): void {
  const old = Atomics.add(u32, at, by);
  if (old + by > 0xffffffff) Atomics.add(u32, at + 1, Math.floor((old + by) / 0x100000000));
}

function read64(u32: Uint32Array, at: number): number {
  for (;;) {
    const hi = Atomics.load(u32, at + 1);
    const lo = Atomics.load(u32, at);
    if (Atomics.load(u32, at + 1) === hi) return hi * 0x100000000 + lo;
  }
}

/** The store: families laid out one after the other in one buffer, the same layout in every thread. */
export class MetricsStore {
  readonly families = new Map<string, Family>();

  constructor(readonly buffer: SharedArrayBuffer, readonly defs: readonly FamilyDef[]) {
    const u32 = new Uint32Array(buffer);
    const bytes = new Uint8Array(buffer);
    let base = 0;
    for (const def of defs) {
      this.families.set(def.name, new Family(def, u32, bytes, base));
      base += Family.words(def);
    }
    if (base * 4 > buffer.byteLength) throw new Error('metrics buffer is smaller than its layout');
  }

  static allocate(defs: readonly FamilyDef[]): MetricsStore {
    const words = defs.reduce((a, d) => a + Family.words(d), 0);
    const store = new MetricsStore(new SharedArrayBuffer(words * 4), defs);
    for (const f of store.families.values()) f.init();
    return store;
  }

  family(name: string): Family {
    const f = this.families.get(name);
    if (!f) throw new Error(`no metric family ${name}`);
    return f;
  }
}
