// The state of gRPC upstream targets that every thread calling them shares: the pool's
// workers and front threads running small calls inline make the calls, the main thread
// runs the health checks, the admin API reads it. One SharedArrayBuffer; each target has a
// slot found by a hash of "upstream|url" (linear probing, claimed with compareExchange), so
// every thread and every configuration generation agree on it without messages, and a
// reload keeps a target's state. No locks: counters are Atomics, an ejection has exactly one
// winner (the thread whose compareExchange resets the failure count).
import type { GatewayConfig, OutlierConfig, TargetConfig } from '../config/types.js';
import { GrpcBreaker } from './grpc-breaker.js';

const SLOTS = 1024;
const WORDS = 8;
const KEY = 0;
/** 1: the active health check took the target out */
const DOWN = 1;
const FAILS = 2;
const EJECTIONS = 3;
const REQUESTS = 4;
const FAILURES = 5;
const INFLIGHT = 6;

export function allocateGrpcTargetState(): SharedArrayBuffer {
  return new SharedArrayBuffer(SLOTS * WORDS * 4 + SLOTS * 8);
}

function hashOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h | 1; // never 0: 0 marks a free slot
}

export interface GrpcTargetView {
  url: string;
  health: 'healthy' | 'ejected' | 'unhealthy';
  ejectedForMs: number;
  ejections: number;
  inflight: number;
  consecutiveFailures: number;
  requests: number;
  failures: number;
}

export class GrpcTargetState {
  private readonly words: Int32Array;
  /** epoch ms until which each slot's target is ejected (written by the ejection's winner only) */
  private readonly until: Float64Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer, 0, SLOTS * WORDS);
    this.until = new Float64Array(buffer, SLOTS * WORDS * 4, SLOTS);
  }

  /** The target's slot (claimed on first use); -1 when the table is full (the target is then never ejected). */
  slotOf(upstream: string, url: string): number {
    const key = hashOf(`${upstream}|${url}`);
    const w = this.words;
    for (let i = 0, s = (key >>> 0) % SLOTS; i < SLOTS; i++, s = (s + 1) % SLOTS) {
      const at = s * WORDS + KEY;
      const seen = Atomics.load(w, at);
      if (seen === key) return s;
      if (seen === 0) {
        const prev = Atomics.compareExchange(w, at, 0, key);
        if (prev === 0 || prev === key) return s;
      }
    }
    return -1;
  }

  available(slot: number, now: number): boolean {
    return slot < 0 || (Atomics.load(this.words, slot * WORDS + DOWN) === 0 && this.until[slot]! <= now);
  }

  started(slot: number): void {
    if (slot < 0) return;
    Atomics.add(this.words, slot * WORDS + REQUESTS, 1);
    Atomics.add(this.words, slot * WORDS + INFLIGHT, 1);
  }

  /** A call ended: `failed` is an UNAVAILABLE (connection refused, reset, GOAWAY, 503 from a proxy). True: this call ejected the target. */
  finished(slot: number, failed: boolean, outlier: OutlierConfig, upstreamSlots: readonly number[], now: number): boolean {
    if (slot < 0) return false;
    const w = this.words;
    const base = slot * WORDS;
    Atomics.sub(w, base + INFLIGHT, 1);
    if (!failed) {
      if (Atomics.load(w, base + FAILS) !== 0) Atomics.store(w, base + FAILS, 0);
      return false;
    }
    Atomics.add(w, base + FAILURES, 1);
    const n = Atomics.add(w, base + FAILS, 1) + 1;
    if (!outlier.enabled || n < outlier.consecutiveFailures || !this.available(slot, now)) return false;
    const distinct = [...new Set(upstreamSlots)];
    const ejected = distinct.filter((s) => !this.available(s, now)).length;
    if (distinct.length === 1 ? outlier.maxEjectionPercent < 100 : ((ejected + 1) / distinct.length) * 100 > outlier.maxEjectionPercent) return false;
    if (Atomics.compareExchange(w, base + FAILS, n, 0) !== n) return false; // another thread ejected it, or a success came in between
    const times = Atomics.add(w, base + EJECTIONS, 1) + 1;
    this.until[slot] = now + Math.min(outlier.baseEjectionMs * 2 ** (times - 1), outlier.maxEjectionMs);
    return true;
  }

  /** A slot's 8 words and its clock, for state that is not a target's (an upstream's breaker). */
  wordsOf(slot: number): Int32Array { return this.words.subarray(slot * WORDS, slot * WORDS + WORDS); }
  clock(slot: number): number { return this.until[slot]!; }
  setClock(slot: number, t: number): void { this.until[slot] = t; }

  /** The active health check's verdict (main thread). */
  setDown(slot: number, down: boolean): void {
    if (slot >= 0) Atomics.store(this.words, slot * WORDS + DOWN, down ? 1 : 0);
  }

  isDown(slot: number): boolean {
    return slot >= 0 && Atomics.load(this.words, slot * WORDS + DOWN) === 1;
  }

  view(slot: number, url: string, now: number): GrpcTargetView {
    const w = this.words;
    const base = slot * WORDS;
    const get = (k: number) => (slot < 0 ? 0 : Atomics.load(w, base + k));
    const until = slot < 0 ? 0 : this.until[slot]!;
    return {
      url,
      health: get(DOWN) === 1 ? 'unhealthy' : until > now ? 'ejected' : 'healthy',
      ejectedForMs: Math.max(0, Math.round(until - now)),
      ejections: get(EJECTIONS),
      inflight: get(INFLIGHT),
      consecutiveFailures: get(FAILS),
      requests: get(REQUESTS),
      failures: get(FAILURES),
    };
  }
}

/** A gRPC target's URL as the pool's rotation and the state's slots name it. */
export function grpcTargetUrl(t: TargetConfig): string {
  return t.url!.replace(/\/+$/, '');
}

/** /admin/upstreams entries for the gRPC upstreams (one shared state, not one per thread). */
export function grpcUpstreamsStatus(config: GatewayConfig, buffer: SharedArrayBuffer): Record<string, unknown> {
  const state = new GrpcTargetState(buffer);
  const now = Date.now();
  const out: Record<string, unknown> = {};
  for (const [name, u] of Object.entries(config.upstreams)) {
    if (u.protocol !== 'grpc') continue;
    out[name] = {
      protocol: 'grpc',
      balance: 'round-robin',
      breaker: u.breaker ? new GrpcBreaker(state, name, u.breaker).stateName : 'disabled',
      healthCheck: u.healthCheck ? `grpc.health.v1.Health/Check service "${u.healthCheck.service ?? ''}"` : 'off',
      targets: u.targets.map((t) => {
        const url = grpcTargetUrl(t);
        return { ...state.view(state.slotOf(name, url), url, now), host: new URL(url).host, weight: t.weight };
      }),
    };
  }
  return out;
}
