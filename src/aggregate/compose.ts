// The pool's half of an aggregate: parse each backend's bytes, apply its filters
// (isCollection → target → allow/deny → mapping → group, KrakenD's order), merge in
// declared order (never arrival order), and serialise the answer or the error.
import { errorBody, type ErrorCode } from '../errors.js';
import { result } from '../transcode/transcode-call.js';
import type { TranscodeResult } from '../transcode/task.js';
import { isUtf8 } from 'node:buffer';
import { atPath } from './placeholder.js';
import { isJsonObject } from './json-check.js';
import type { AggregateSpec, BackendSpec, ComposeTask, Outcome, PickResult, PickTask } from './aggregate-task.js';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Aggregate specs per pool generation and route (kept like the generations: the newest few). */
const specs = new Map<number, ReadonlyMap<string, AggregateSpec>>();
const KEEP = 4;

export function configureAggregates(gen: number, aggregates: Record<string, AggregateSpec> | undefined): void {
  specs.set(gen, new Map(Object.entries(aggregates ?? {})));
  for (const old of [...specs.keys()].sort((a, b) => a - b).slice(0, Math.max(0, specs.size - KEEP))) specs.delete(old);
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** The JSON a backend sent, shaped by isCollection; a string says why it is unusable. */
function parse(body: ArrayBuffer, isCollection: boolean): unknown {
  let v: unknown;
  try { v = JSON.parse(decoder.decode(body)); } catch { return new ParseFailure('the response is not JSON'); }
  if (isCollection) return Array.isArray(v) ? { collection: v } : new ParseFailure('isCollection: the response is not a JSON array');
  if (!isObject(v)) return new ParseFailure(Array.isArray(v) ? 'the response is a JSON array (set isCollection)' : 'the response is not a JSON object');
  return v;
}

class ParseFailure { constructor(readonly message: string) {} }

function rooted(v: Json, target: readonly string[] | null): Json {
  if (!target) return v;
  const t = atPath(v, target);
  return isObject(t) ? t : {};
}

function pickPaths(v: Json, paths: ReadonlyArray<readonly string[]>): Json {
  const out: Json = {};
  for (const p of paths) {
    const value = atPath(v, p);
    if (value === undefined) continue;
    let at = out;
    for (let i = 0; i < p.length - 1; i++) {
      const k = p[i]!;
      if (!isObject(at[k])) at[k] = {};
      at = at[k] as Json;
    }
    at[p[p.length - 1]!] = value;
  }
  return out;
}

function dropPaths(v: Json, paths: ReadonlyArray<readonly string[]>): Json {
  const out = structuredCopy(v);
  for (const p of paths) {
    let at: unknown = out;
    for (let i = 0; i < p.length - 1 && isObject(at); i++) at = at[p[i]!];
    if (isObject(at)) delete at[p[p.length - 1]!];
  }
  return out;
}

/** Objects along deny paths are copied so the parsed value stays as it was (a step may share it). */
function structuredCopy(v: Json): Json {
  const out: Json = {};
  for (const [k, e] of Object.entries(v)) put(out, k, isObject(e) ? structuredCopy(e) : e);
  return out;
}

function filtered(b: BackendSpec, v: Json): Json {
  let data = rooted(v, b.target);
  if (b.allow) data = pickPaths(data, b.allow);
  if (b.deny) data = dropPaths(data, b.deny);
  if (b.mapping) {
    const out: Json = {};
    const renamed = new Map(b.mapping);
    for (const [k, e] of Object.entries(data)) put(out, renamed.get(k) ?? k, e);
    data = out;
  }
  return data;
}

function grouped(b: BackendSpec, data: unknown): Json {
  if (b.group) return { [b.group]: data };
  return isObject(data) ? data : { [b.name]: data };
}

/** An own property even for "__proto__" (a backend's JSON may carry one; `o[k] = v` would swap o's prototype). */
function put(o: Json, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

function shallowMerge(into: Json, from: Json): void {
  for (const [k, v] of Object.entries(from)) put(into, k, v);
}

function deepMerge(into: Json, from: Json, concat: boolean): void {
  for (const [k, v] of Object.entries(from)) {
    const have = Object.prototype.hasOwnProperty.call(into, k) ? into[k] : undefined;
    if (isObject(have) && isObject(v)) { const copy = { ...have }; deepMerge(copy, v, concat); put(into, k, copy); }
    else if (concat && Array.isArray(have) && Array.isArray(v)) put(into, k, [...have, ...v]);
    else put(into, k, v);
  }
}

const CODE_OF: Record<number, ErrorCode> = { 400: 'aggregate_missing_value', 503: 'aggregate_backend_unavailable', 504: 'aggregate_backend_timeout' };

/** A failure's weight when several fail: a timeout is the worst cause, then unavailability, then a bad answer. */
const rank = (status: number) => (status === 504 ? 3 : status === 503 ? 2 : status >= 500 ? 1 : 0);

const JSON_TYPE = ['content-type', 'application/json'];

function failure(requestId: string, failed: Array<{ b: BackendSpec; o: Extract<Outcome, { ok: false }> }>): TranscodeResult {
  // A required backend's own 4xx goes to the client as it was (the first in declared order).
  const passed = failed.find(({ b, o }) => b.required && o.answer);
  const headers = ['x-aggregate-completed', 'false', 'x-aggregate-failed', failedHeader(failed)];
  if (passed) {
    const a = passed.o.answer!;
    return result(passed.o.status, [...a.headers, ...headers], Buffer.from(a.body).toString('utf8'));
  }
  const worst = failed.filter(({ b }) => b.required).concat(failed.every(({ b }) => !b.required) ? failed : [])
    .reduce((w, f) => (rank(f.o.status) > rank(w.o.status) ? f : w));
  const status = worst.o.status === 400 ? 400 : worst.o.status === 503 || worst.o.status === 504 ? worst.o.status : 502;
  const code = CODE_OF[status] ?? 'aggregate_backend_failed';
  const message = `backend "${worst.b.name}" failed: ${worst.o.message}`;
  return result(status, [...JSON_TYPE, ...headers], errorBody(code, message, requestId));
}

function failedHeader(failed: Array<{ b: BackendSpec; o: Extract<Outcome, { ok: false }> }>): string {
  return failed.map(({ b, o }) => `${b.name}=${o.label}`).join(', ');
}

/**
 * Per spec whose answer can be spliced (every backend only grouped, under distinct keys): the
 * bytes before each backend's object (`{"a":`, `,"b":`); null for the others.
 */
const splicePrefixes = new WeakMap<AggregateSpec, Buffer[] | null>();
function prefixesOf(spec: AggregateSpec): Buffer[] | null {
  let prefixes = splicePrefixes.get(spec);
  if (prefixes === undefined) {
    const groups = spec.backends.map((b) => b.group);
    const can = spec.backends.every((b) => b.group !== null && !b.target && !b.allow && !b.deny && !b.mapping && !b.isCollection && !b.raw)
      && new Set(groups).size === groups.length;
    prefixes = can ? groups.map((g, i) => Buffer.from(`${i ? ',' : '{'}${JSON.stringify(g)}:`)) : null;
    splicePrefixes.set(spec, prefixes);
  }
  return prefixes;
}

const CLOSE = Buffer.from('}');

/**
 * Every backend answered a JSON object and each goes under its own group: whatever the merge
 * mode, the answer is those objects side by side, so they are copied in as they came instead
 * of parsed and serialised again (~8 µs a KB here; numbers keep their digits). null when
 * some answer is not a JSON object the check is sure of: compose then parses as usual.
 */
function spliced(prefixes: readonly Buffer[], outcomes: readonly Outcome[]): TranscodeResult | null {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < outcomes.length; i++) {
    const o = outcomes[i]!;
    if (!o.ok) return null;
    const body = new Uint8Array(o.body);
    if (!isUtf8(body) || !isJsonObject(body)) return null;
    parts.push(prefixes[i]!, body);
  }
  parts.push(CLOSE);
  let size = 0;
  for (const p of parts) size += p.byteLength;
  // one ArrayBuffer of its own, moved to the front thread as it is (Buffer.concat may share Node's pool)
  const out = new Uint8Array(new ArrayBuffer(size));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.byteLength; }
  return result(200, [...JSON_TYPE, 'x-aggregate-completed', 'true'], out, undefined, true);
}

export function compose(task: ComposeTask): TranscodeResult {
  const spec = specs.get(task.gen)?.get(task.route);
  if (!spec) throw new Error(`aggregate "${task.route}" is not configured in generation ${task.gen}`);
  const prefixes = prefixesOf(spec);
  if (prefixes) { const r = spliced(prefixes, task.outcomes); if (r) return r; }
  const parts: Array<Json | null> = [];
  const failed: Array<{ b: BackendSpec; o: Extract<Outcome, { ok: false }> }> = [];
  spec.backends.forEach((b, i) => {
    let o = task.outcomes[i]!;
    if (o.ok) {
      if (b.raw) { parts.push(grouped({ ...b, group: b.group ?? b.name }, Buffer.from(o.body).toString('utf8'))); return; }
      const v = parse(o.body, b.isCollection);
      if (!(v instanceof ParseFailure)) { parts.push(grouped(b, filtered(b, v as Json))); return; }
      o = { ok: false, status: 502, label: 'invalid', message: v.message };
    }
    failed.push({ b, o });
    parts.push(b.hasFallback ? grouped(b, b.fallback) : null);
  });
  if (failed.length === spec.backends.length || failed.some(({ b }) => b.required)) return failure(task.requestId, failed);
  const out: Json = {};
  for (const p of parts) {
    if (!p) continue;
    if (spec.merge === 'shallow') shallowMerge(out, p);
    else deepMerge(out, p, spec.merge === 'concat');
  }
  const headers = [...JSON_TYPE, 'x-aggregate-completed', failed.length ? 'false' : 'true'];
  if (failed.length) {
    headers.push('x-aggregate-failed', failedHeader(failed));
    if (spec.errors === 'include') {
      const errors: Json = {};
      for (const { b, o } of failed) errors[b.name] = { status: o.label, message: o.message };
      out._errors = errors;
    }
  }
  return result(200, headers, JSON.stringify(out));
}

export function pick(task: PickTask): PickResult {
  const v = parse(task.body, task.isCollection);
  if (v instanceof ParseFailure) return { error: v.message, body: task.body };
  const root = rooted(v as Json, task.target);
  return { values: task.paths.map((p) => atPath(root, p)), body: task.body };
}
