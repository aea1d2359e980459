// W3C Trace Context (https://www.w3.org/TR/trace-context/): parsing a client's traceparent
// and tracestate, making ids, and the header sent upstream. Hand-written: it runs on every
// request of a traced gateway, sampled or not; the OpenTelemetry SDK only sees sampled ones.
import { randomFillSync } from 'node:crypto';

export interface ParentContext {
  traceId: string;
  spanId: string;
  sampled: boolean;
  /** the client's tracestate, kept only with a valid traceparent */
  tracestate: string | null;
}

const HEX = /^[0-9a-f]+$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
const MAX_TRACESTATE = 512;

/** A valid traceparent, or null (malformed: the gateway starts a new trace). */
export function parseTraceparent(value: string | undefined, tracestate: string | undefined): ParentContext | null {
  if (value === undefined) return null;
  const v = value.trim();
  // version 00 is exactly 55 characters; a later version may append fields after a '-'.
  if (v.length < 55 || (v.length > 55 && v[55] !== '-') || v[2] !== '-' || v[35] !== '-' || v[52] !== '-') return null;
  const version = v.slice(0, 2), traceId = v.slice(3, 35), spanId = v.slice(36, 52), flags = v.slice(53, 55);
  if (!HEX.test(version) || version === 'ff' || (version === '00' && v.length !== 55)) return null;
  if (!HEX.test(traceId) || !HEX.test(spanId) || !HEX.test(flags) || traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  const state = tracestate !== undefined && tracestate.length <= MAX_TRACESTATE && /^[\x20-\x7e]*$/.test(tracestate) ? tracestate : null;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1, tracestate: state || null };
}

// Ids come from a pool of random bytes refilled 16 KB at a time (crypto-quality, as W3C asks),
// turned into hex once per refill: an id is then a substring. Math.random().toString(16)
// cost ~3 µs a request in the profile, Buffer#toString('hex') per id ~0.3 µs.
const POOL = Buffer.alloc(16 * 1024);
let HEX_POOL = '';
let poolAt = POOL.length;

function take(n: number): number {
  if (poolAt + n > POOL.length) { randomFillSync(POOL); HEX_POOL = POOL.toString('hex'); poolAt = 0; }
  const at = poolAt;
  poolAt += n;
  return at;
}

/** The xor of the last new trace id's four 32-bit words (TraceIdRatioBased sampling reads it). */
export let lastTraceIdXor = 0;

export function newTraceId(): string {
  const at = take(16);
  const id = HEX_POOL.slice(at * 2, at * 2 + 32);
  if (id === ZERO_TRACE) return newTraceId();
  lastTraceIdXor = (POOL.readUInt32BE(at) ^ POOL.readUInt32BE(at + 4) ^ POOL.readUInt32BE(at + 8) ^ POOL.readUInt32BE(at + 12)) >>> 0;
  return id;
}

export function newSpanId(): string {
  const at = take(8);
  const id = HEX_POOL.slice(at * 2, at * 2 + 16);
  return id === ZERO_SPAN ? newSpanId() : id;
}

export function traceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}
