// The proto3 JSON mapping, both ways, over protobufjs reflection:
//   toProtoObject: request JSON → a plain object `Type.encode` takes as it is (strict: unknown
//     fields, wrong JSON types, out-of-range integers and bad enum names are 400s naming
//     the field).
//   toJson: a decoded message → response JSON (lowerCamelCase json_name, int64 as strings,
//     enums as names, bytes as base64, defaults omitted unless asked, well-known types in
//     their special forms).
import protobuf from 'protobufjs';
import Long from 'long';
import { LongString, LONG_STRING } from './json-bytes.js';

type Type = protobuf.Type;
type Field = protobuf.Field;

export class JsonMappingError extends Error {}

/** 64-bit map key types, and whether they are unsigned */
const LONG_KEYS: Record<string, boolean> = { int64: false, sint64: false, sfixed64: false, uint64: true, fixed64: true };

const INT32: Record<string, [number, number]> = {
  int32: [-2147483648, 2147483647], sint32: [-2147483648, 2147483647], sfixed32: [-2147483648, 2147483647],
  uint32: [0, 4294967295], fixed32: [0, 4294967295],
};
const INT64: Record<string, [bigint, bigint]> = {
  int64: [-(2n ** 63n), 2n ** 63n - 1n], sint64: [-(2n ** 63n), 2n ** 63n - 1n], sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n], fixed64: [0n, 2n ** 64n - 1n],
};
const WRAPPERS = new Set(['DoubleValue', 'FloatValue', 'Int64Value', 'UInt64Value', 'Int32Value', 'UInt32Value', 'BoolValue', 'StringValue', 'BytesValue']);

const jsonNames = new WeakMap<Field, string>();
/** The proto3 JSON name: json_name when given, else lowerCamelCase of the field name (computed once per field). */
export function jsonName(f: Field): string {
  let name = jsonNames.get(f);
  if (name === undefined) {
    const explicit = (f.options as Record<string, unknown> | undefined)?.json_name;
    // protoc's rule: drop every underscore and upper-case the character after it
    // (_field_name3 → FieldName3, field__name4_ → fieldName4, field_0_name6 → field0Name6).
    name = typeof explicit === 'string' ? explicit : f.name.replace(/_+(.?)/g, (_m, c: string) => c.toUpperCase());
    jsonNames.set(f, name);
  }
  return name;
}

const fullNames = new WeakMap<protobuf.ReflectionObject, string>();
/** `t.fullName`, computed once: protobufjs walks the parents and joins their names on every read. */
export function fullNameOf(t: protobuf.ReflectionObject): string {
  let name = fullNames.get(t);
  if (name === undefined) fullNames.set(t, (name = t.fullName));
  return name;
}

/** A value that arrived as text (a query parameter, a path variable): "true" is a bool there, not in a JSON body. */
export class FromText {
  constructor(readonly text: string) {}
}

const FLOAT_MAX = 3.4028234663852886e38;
/** a lone UTF-16 surrogate (from a \uD800 escape): not a character, no UTF-8 form */
const LONE_SURROGATE = /\p{Cs}/u;

const wktNames = new WeakMap<protobuf.ReflectionObject, string | null>();
/** The google.protobuf type's short name ("Timestamp"), or null; computed once per type. */
function wkt(t: protobuf.Type | protobuf.Enum | null): string | null {
  if (!t) return null;
  let short = wktNames.get(t);
  if (short === undefined) {
    const name = fullNameOf(t);
    wktNames.set(t, (short = name.startsWith('.google.protobuf.') ? name.slice('.google.protobuf.'.length) : null));
  }
  return short;
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

/** Fields by proto name and json name (both are accepted on input). */
const fieldIndex = new WeakMap<Type, Map<string, Field>>();
export function fieldsOf(t: Type): Map<string, Field> {
  let m = fieldIndex.get(t);
  if (!m) {
    m = new Map();
    for (const f of t.fieldsArray) { m.set(f.name, f); m.set(jsonName(f), f); }
    fieldIndex.set(t, m);
  }
  return m;
}

// ---------------------------------------------------------------- JSON → proto object

export interface DecodeOptions { /** set for values that arrived as text (FromText): accept "true"/"false" for bools */ lenient?: boolean; root: protobuf.Root }

function scalarIn(f: Field, type: string, v: unknown, at: string, o: DecodeOptions): unknown {
  if (type in INT32) {
    // a numeric string as the mapping allows ("1", "1e5"), without padding
    const n = typeof v === 'string' && v !== '' && v.trim() === v ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n)) throw new JsonMappingError(`${at}: expected an integer, got ${describe(v)}`);
    const [lo, hi] = INT32[type]!;
    if (n < lo || n > hi) throw new JsonMappingError(`${at}: ${n} is out of range for ${type}`);
    return n;
  }
  if (type in INT64) {
    const unsigned = type === 'uint64' || type === 'fixed64';
    // the common case without BigInt: a safe integer, as a number or a short decimal string
    // (a longer string whose value is beyond 2^53 parses to at least 2^53: not safe, so exact)
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d{1,16}$/.test(v) ? Number(v) : NaN;
    if (Number.isSafeInteger(n)) {
      if (unsigned && n < 0) throw new JsonMappingError(`${at}: ${n} is out of range for ${type}`);
      return n; // protobufjs' writer takes a safe integer as it is (no Long to allocate)
    }
    let b: bigint;
    if (typeof v === 'number' && Number.isInteger(v)) {
      // JSON.parse has already rounded anything beyond 2^53: refuse rather than corrupt it.
      if (!Number.isSafeInteger(v)) throw new JsonMappingError(`${at}: ${v} is beyond 2^53 and loses precision as a JSON number; send it as a string`);
      b = BigInt(v);
    }
    else if (typeof v === 'string' && /^-?\d+$/.test(v)) b = BigInt(v);
    else throw new JsonMappingError(`${at}: expected an integer (number or decimal string), got ${describe(v)}`);
    const [lo, hi] = INT64[type]!;
    if (b < lo || b > hi) throw new JsonMappingError(`${at}: ${b} is out of range for ${type}`);
    return Long.fromString(b.toString(), unsigned);
  }
  if (type === 'double' || type === 'float') {
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    const n = typeof v === 'string' && v !== '' && v.trim() === v ? Number(v) : v;
    // a JSON number too large for a double parses as ±Infinity: out of range, not infinity
    if (typeof n !== 'number' || !Number.isFinite(n)) throw new JsonMappingError(`${at}: expected a number, got ${describe(v)}`);
    if (type === 'float' && Math.abs(n) > FLOAT_MAX) throw new JsonMappingError(`${at}: ${n} is out of range for float`);
    return n;
  }
  if (type === 'bool') {
    if (typeof v === 'boolean') return v;
    if (o.lenient && (v === 'true' || v === 'false')) return v === 'true';
    throw new JsonMappingError(`${at}: expected true or false, got ${describe(v)}`);
  }
  if (type === 'string') {
    if (typeof v !== 'string') throw new JsonMappingError(`${at}: expected a string, got ${describe(v)}`);
    if (LONE_SURROGATE.test(v)) throw new JsonMappingError(`${at}: the string has an unpaired UTF-16 surrogate escape (not a character)`);
    return v;
  }
  if (type === 'bytes') {
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) throw new JsonMappingError(`${at}: expected base64 bytes, got ${describe(v)}`);
    return Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  }
  throw new JsonMappingError(`${at}: unsupported field type ${type} (${f.name})`);
}

function enumIn(e: protobuf.Enum, v: unknown, at: string): number {
  if (typeof v === 'string') {
    // own numeric entries only: protobufjs' `values` may also hold id → name, and `in`
    // would find Object.prototype's names ("toString")
    const n = Object.hasOwn(e.values, v) ? e.values[v] : undefined;
    if (typeof n === 'number') return n;
    if (/^-?\d+$/.test(v)) return Number(v);
    throw new JsonMappingError(`${at}: "${v}" is not a value of enum ${e.name}`);
  }
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  throw new JsonMappingError(`${at}: expected an enum name or number, got ${describe(v)}`);
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

function timestampIn(v: unknown, at: string): { seconds: number; nanos: number } {
  const m = typeof v === 'string' ? RFC3339.exec(v) : null;
  if (!m) throw new JsonMappingError(`${at}: expected an RFC 3339 timestamp like "2024-01-31T12:00:00Z", got ${describe(v)}`);
  const ms = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[8]!.toUpperCase()}`);
  if (Number.isNaN(ms)) throw new JsonMappingError(`${at}: invalid timestamp "${v as string}"`);
  const nanos = m[7] ? Number(m[7].slice(1).padEnd(9, '0')) : 0;
  return { seconds: Math.floor(ms / 1000), nanos };
}

function durationIn(v: unknown, at: string): { seconds: Long | number; nanos: number } {
  const m = typeof v === 'string' ? /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(v) : null;
  if (!m) throw new JsonMappingError(`${at}: expected a duration like "1.5s", got ${describe(v)}`);
  const sign = m[1] ? -1 : 1;
  const nanos = m[3] ? Number(m[3].padEnd(9, '0')) : 0;
  return { seconds: m[2]!.length <= 15 ? sign * Number(m[2]) : Long.fromString((m[1] ?? '') + m[2]!), nanos: sign * nanos };
}

/** Messages nested in a request's top one: protoc's (and protobufjs') recursion limit. */
export const MAX_NESTING = 100;
/**
 * Depth of the message being mapped, counted as protobufjs' encoder counts (the top message 0,
 * each message field, list element and map value one more: a JSON array in a Value is two, its
 * ListValue and the Values in it), so a request too deep is refused here, with its path, before
 * the encoder would throw. toProtoObject starts it at -1 (a throw leaves it stale).
 */
let nesting = -1;
function deeper(at: string): void {
  if (++nesting > MAX_NESTING) throw new JsonMappingError(`${at.length > 120 ? `${at.slice(0, 120)}…` : at || 'body'}: nested deeper than ${MAX_NESTING} levels`);
}

/** A google.protobuf.Value whose own level is counted by the caller. */
function valueIn(v: unknown, at: string): Record<string, unknown> {
  if (v === null) return { nullValue: 0 };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) { deeper(at); const list = { listValue: listIn(v, at) }; nesting--; return list; }
  if (typeof v === 'object') { deeper(at); const struct = { structValue: structIn(v, at) }; nesting--; return struct; }
  throw new JsonMappingError(`${at}: not a JSON value`);
}

/** A Value inside a ListValue or a Struct: one level deeper. */
function elementIn(v: unknown, at: string): Record<string, unknown> {
  deeper(at);
  const value = valueIn(v, at);
  nesting--;
  return value;
}

function listIn(v: unknown[], at: string): Record<string, unknown> {
  return { values: v.map((x, i) => elementIn(x, `${at}[${i}]`)) };
}

function structIn(v: unknown, at: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new JsonMappingError(`${at}: expected an object, got ${describe(v)}`);
  const fields: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) fields[k] = elementIn(x, `${at}.${k}`);
  return { fields };
}

function messageIn(t: Type, v: unknown, at: string, o: DecodeOptions): unknown {
  deeper(at);
  const m = messageInner(t, v, at, o);
  nesting--;
  return m;
}

function messageInner(t: Type, v: unknown, at: string, o: DecodeOptions): unknown {
  switch (wkt(t)) {
    case 'Timestamp': return timestampIn(v, at);
    case 'Duration': return durationIn(v, at);
    case 'FieldMask': {
      if (typeof v !== 'string') throw new JsonMappingError(`${at}: expected a field mask like "a.b,c", got ${describe(v)}`);
      return { paths: v === '' ? [] : v.split(',').map((p) => p.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)) };
    }
    case 'Struct': return structIn(v, at);
    case 'Value': return valueIn(v, at);
    case 'ListValue':
      if (!Array.isArray(v)) throw new JsonMappingError(`${at}: expected an array, got ${describe(v)}`);
      return listIn(v, at);
    case 'Empty':
      if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.keys(v).length) throw new JsonMappingError(`${at}: expected {}`);
      return {};
    case 'Any': return anyIn(v, at, o);
  }
  const name = wkt(t);
  if (name && WRAPPERS.has(name)) return { value: fieldIn(t.fields.value!, v, at, o) };
  return objectIn(t, v, at, o);
}

function anyIn(v: unknown, at: string, o: DecodeOptions): unknown {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new JsonMappingError(`${at}: expected an object with "@type"`);
  const { '@type': typeUrl, ...rest } = v as Record<string, unknown>;
  if (typeof typeUrl !== 'string') throw new JsonMappingError(`${at}: "@type" is required in an Any`);
  const inner = lookupAnyType(o.root, typeUrl, at);
  const special = wkt(inner);
  const obj = valueForm(special) && !('value' in rest && Object.keys(rest).length > 1)
    ? messageIn(inner, rest.value, `${at}.value`, o)
    : objectIn(inner, rest, at, o);
  return { type_url: typeUrl, value: inner.encode(obj as Record<string, unknown>).finish() };
}
const SPECIAL: Record<string, true> = { Timestamp: true, Duration: true, FieldMask: true, Struct: true, Value: true, ListValue: true, Empty: true };
/** A well-known type with a JSON form of its own (not an object of its fields): in an Any it rides as "value". */
const valueForm = (name: string | null): name is string => !!name && (name in SPECIAL || WRAPPERS.has(name));

export function lookupAnyType(root: protobuf.Root, typeUrl: string, at: string): Type {
  const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  // An empty or namespace name would look up the root or a package, not a message (found by the fuzzer).
  let t: unknown;
  try { t = name ? root.lookupType(name) : null; } catch { t = null; }
  if (!(t instanceof protobuf.Type)) throw new JsonMappingError(`${at}: unknown type "${typeUrl}" in Any`);
  return t;
}

function fieldIn(f: Field, v: unknown, at: string, o: DecodeOptions): unknown {
  if (v instanceof FromText) { v = v.text; if (!o.lenient) o = { ...o, lenient: true }; }
  const rt = f.resolvedType;
  if (rt instanceof protobuf.Enum) return wkt(rt) === 'NullValue' ? 0 : enumIn(rt, v, at);
  if (rt instanceof protobuf.Type) return messageIn(rt, v, at, o);
  return scalarIn(f, f.type, v, at, o);
}

/** A request field as objectIn reads it, worked out once per field. */
interface InField {
  f: Field;
  /** JSON null sets it (google.protobuf.Value); for every other field null means "not set" */
  keepNull: boolean;
  oneof: string | null;
  /** map fields: the key type */
  keyType: string | null;
}

/** Fields by proto name and json name, as objectIn reads them. */
const inPlans = new WeakMap<Type, Map<string, InField>>();
function inPlanOf(t: Type): Map<string, InField> {
  let plan = inPlans.get(t);
  if (!plan) {
    plan = new Map();
    for (const [key, f] of fieldsOf(t)) {
      plan.set(key, {
        f, keepNull: !!f.resolvedType && wkt(f.resolvedType) === 'Value' && !f.repeated, oneof: f.partOf ? f.partOf.name : null,
        keyType: f.map ? (f as unknown as protobuf.MapField).keyType : null,
      });
    }
    inPlans.set(t, plan);
  }
  return plan;
}

function objectIn(t: Type, v: unknown, at: string, o: DecodeOptions): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new JsonMappingError(`${at || 'body'}: expected an object, got ${describe(v)}`);
  const out: Record<string, unknown> = {};
  const plan = inPlanOf(t);
  let oneofSeen: Map<string, string> | null = null;
  const keys = Object.keys(v);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const raw = (v as Record<string, unknown>)[key];
    const p = plan.get(key);
    const here = at ? `${at}.${key}` : key;
    if (!p) throw new JsonMappingError(`${here}: unknown field`);
    // null means "not set", except for google.protobuf.Value (JSON null)
    if (raw === null && !p.keepNull) continue;
    const f = p.f;
    if (p.oneof !== null) {
      const prev = (oneofSeen ??= new Map()).get(p.oneof);
      if (prev && prev !== f.name) throw new JsonMappingError(`${here}: only one of the oneof "${p.oneof}" fields may be set (also ${prev})`);
      oneofSeen.set(p.oneof, f.name);
    }
    const keyType = p.keyType;
    if (keyType !== null) {
      if (typeof raw !== 'object' || Array.isArray(raw)) throw new JsonMappingError(`${here}: expected an object (map), got ${describe(raw)}`);
      const m: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(raw as Record<string, unknown>)) {
        if (keyType === 'bool') {
          if (k !== 'true' && k !== 'false') throw new JsonMappingError(`${here}.${k} (key): expected "true" or "false"`);
        } else if (keyType !== 'string') scalarIn(f, keyType, k, `${here}.${k} (key)`, o);
        // protobufjs writes a map key with bool(key): the string "false" would be written as
        // true, so false travels as "" (falsy)
        m[keyType === 'bool' && k === 'false' ? '' : k] = fieldIn(f, x, `${here}.${k}`, o);
      }
      out[f.name] = m;
    } else if (f.repeated) {
      if (!Array.isArray(raw)) throw new JsonMappingError(`${here}: expected an array, got ${describe(raw)}`);
      const list = new Array(raw.length);
      for (let j = 0; j < raw.length; j++) list[j] = fieldIn(f, raw[j], `${here}[${j}]`, o);
      out[f.name] = list;
    } else {
      out[f.name] = fieldIn(f, raw, here, o);
    }
  }
  return out;
}

/**
 * Request JSON (an object) → a plain object `type.encode` takes as it is: every value is
 * already what protobufjs' writer wants (enum numbers, safe int64 as numbers and the rest as
 * Long, bytes as Buffers), so no `fromObject` copy is made. Throws JsonMappingError (400).
 */
export function toProtoObject(t: Type, json: unknown, o: DecodeOptions): Record<string, unknown> {
  nesting = -1;
  return messageIn(t, json, '', o) as Record<string, unknown>;
}

// ---------------------------------------------------------------- proto → JSON

export interface EncodeOptions {
  emitDefaults: boolean;
  root: protobuf.Root;
  /** field names as in the .proto (snake_case) instead of lowerCamelCase json names */
  useProtoNames?: boolean;
  /** enum values as their numbers instead of their names */
  enumsAsInts?: boolean;
  /** set: long string and bytes values come out as LongString (json-bytes.ts), and `seen` says one did */
  longStrings?: { seen: boolean };
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');

function fraction(nanos: number): string {
  if (nanos === 0) return '';
  if (nanos % 1_000_000 === 0) return '.' + pad(nanos / 1_000_000, 3);
  if (nanos % 1000 === 0) return '.' + pad(nanos / 1000, 6);
  return '.' + pad(nanos, 9);
}

function longToString(v: unknown): string {
  if (typeof v !== 'object' || v === null) return String(v);
  // Long.toString divides by 10 in 64-bit steps; a value within ±2^53 is a plain number
  const l = v as Long;
  const n = (l.unsigned ? l.high >>> 0 : l.high) * 4294967296 + (l.low >>> 0);
  return Number.isSafeInteger(n) ? String(n) : l.toString();
}

function timestampOut(m: Record<string, unknown>): string {
  const v = m.seconds ?? 0;
  const seconds = typeof v === 'object' ? (v as Long).toNumber() : Number(v);
  // whole seconds: the ISO text always ends in ".000Z"
  const iso = new Date(seconds * 1000).toISOString().slice(0, -5);
  return `${iso}${fraction(Number(m.nanos ?? 0))}Z`;
}

function durationOut(m: Record<string, unknown>): string {
  const s = BigInt(longToString(m.seconds ?? 0));
  const n = Number(m.nanos ?? 0);
  const neg = s < 0n || n < 0;
  const abs = s < 0n ? -s : s;
  return `${neg ? '-' : ''}${abs}${fraction(Math.abs(n))}s`;
}

/** google.protobuf.Value, decoded: `kind` (protobufjs' oneof getter) names the member set. */
function valueOut(m: Record<string, unknown>): unknown {
  switch (m.kind) {
    case 'structValue': return structOut(m.structValue as Record<string, unknown>);
    case 'listValue': return ((m.listValue as { values?: Record<string, unknown>[] }).values ?? []).map(valueOut);
    case 'stringValue': return m.stringValue;
    case 'numberValue': return numberOut(m.numberValue as number);
    case 'boolValue': return m.boolValue;
    default: return null;
  }
}

function structOut(m: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries((m.fields ?? {}) as Record<string, Record<string, unknown>>)) out[k] = valueOut(v);
  return out;
}

function numberOut(n: number): number | string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  return n;
}

/** A string value of the response, marked as long (json-bytes.ts) when it is. */
function textOut(text: string, o: EncodeOptions): unknown {
  if (o.longStrings && text.length >= LONG_STRING) { o.longStrings.seen = true; return new LongString(text); }
  return text;
}

/** How one field is printed, worked out once per field (messageOut runs per response message). */
interface OutField {
  name: string;
  /** the JSON name (lowerCamelCase or json_name) */
  json: string;
  /** the oneof this field is a member of */
  oneof: string | null;
  shape: 'map' | 'list' | 'one';
  /** an element's (or the single value's) JSON */
  value: (v: unknown, o: EncodeOptions) => unknown;
  /** the field holds its default (not printed unless emitDefaults) */
  isDefault: (v: unknown) => boolean;
  /** what emitDefaults prints: a fresh value each time ({} and [] are handed out) */
  defaultOut: (o: EncodeOptions) => unknown;
  /** 64-bit map keys: whether unsigned (protobufjs keys them by an 8-byte hash) */
  longKey: boolean | undefined;
}

interface OutPlan {
  /** the well-known type this is (its special JSON form), or null */
  special: string | null;
  fields: OutField[];
}

const unset = (v: unknown) => v === undefined || v === null;

function valueOutOf(f: Field): OutField['value'] {
  const rt = f.resolvedType;
  if (rt instanceof protobuf.Enum) {
    if (wkt(rt) === 'NullValue') return () => null;
    return (v, o) => (o.enumsAsInts ? v : rt.valuesById[v as number] ?? v);
  }
  if (rt instanceof protobuf.Type) return (v, o) => messageOut(rt, v as Record<string, unknown>, o);
  const type = f.type;
  if (type in INT64) return longToString;
  if (type === 'double' || type === 'float') return (v) => numberOut(v as number);
  if (type === 'bytes') return (v, o) => textOut(Buffer.from(v as Uint8Array).toString('base64'), o);
  if (type === 'string') return (v, o) => textOut(v as string, o);
  return (v) => v;
}

function isDefaultOf(f: Field): OutField['isDefault'] {
  if (f.map) return (v) => unset(v) || Object.keys(v as object).length === 0;
  if (f.repeated) return (v) => unset(v) || (v as unknown[]).length === 0;
  if (f.resolvedType instanceof protobuf.Type) return unset;
  if (f.type in INT64) return (v) => unset(v) || (typeof v === 'object' ? (v as Long).isZero() : v === 0);
  if (f.type === 'bytes') return (v) => unset(v) || (v as Uint8Array).length === 0;
  return (v) => unset(v) || v === 0 || v === '' || v === false;
}

function defaultOutOf(f: Field): OutField['defaultOut'] {
  if (f.map) return () => ({});
  if (f.repeated) return () => [];
  const rt = f.resolvedType;
  if (rt instanceof protobuf.Type) return () => null;
  if (rt instanceof protobuf.Enum) {
    const name = rt.valuesById[0] ?? 0;
    return wkt(rt) === 'NullValue' ? () => name : (o) => (o.enumsAsInts ? 0 : name);
  }
  const value = f.type in INT64 ? '0' : f.type === 'bool' ? false : f.type === 'string' || f.type === 'bytes' ? '' : 0;
  return () => value;
}

const outPlans = new WeakMap<Type, OutPlan>();
function outPlanOf(t: Type): OutPlan {
  let plan = outPlans.get(t);
  if (!plan) {
    const name = wkt(t);
    plan = {
      special: valueForm(name) || name === 'Any' ? name : null,
      fields: t.fieldsArray.map((f) => ({
        name: f.name, json: jsonName(f), oneof: f.partOf ? f.partOf.name : null,
        shape: f.map ? 'map' : f.repeated ? 'list' : 'one',
        value: valueOutOf(f), isDefault: isDefaultOf(f), defaultOut: defaultOutOf(f),
        longKey: f.map ? LONG_KEYS[(f as unknown as protobuf.MapField).keyType] : undefined,
      })),
    };
    outPlans.set(t, plan);
  }
  return plan;
}

function specialOut(t: Type, special: string, m: Record<string, unknown>, o: EncodeOptions): unknown {
  switch (special) {
    case 'Timestamp': return timestampOut(m);
    case 'Duration': return durationOut(m);
    case 'FieldMask': return ((m.paths ?? []) as string[]).map((p) => p.replace(/_([a-z0-9])/g, (_x, c: string) => c.toUpperCase())).join(',');
    case 'Struct': return structOut(m);
    case 'Value': return valueOut(m);
    case 'ListValue': return ((m.values ?? []) as Record<string, unknown>[]).map(valueOut);
    case 'Empty': return {};
    case 'Any': {
      const typeUrl = String(m.type_url ?? '');
      const inner = lookupAnyType(o.root, typeUrl, 'any');
      const decoded = inner.decode(m.value as Uint8Array) as unknown as Record<string, unknown>;
      const json = messageOut(inner, decoded, o);
      return valueForm(wkt(inner)) ? { '@type': typeUrl, value: json } : { '@type': typeUrl, ...(json as object) };
    }
  }
  // a wrapper: its value field's JSON
  const f = outPlanOf(t).fields.find((x) => x.name === 'value')!;
  return f.value(unset(m.value) ? f.defaultOut(o) : m.value, o);
}

export function messageOut(t: Type, m: Record<string, unknown>, o: EncodeOptions): unknown {
  const plan = outPlanOf(t);
  if (plan.special) return specialOut(t, plan.special, m, o);
  const out: Record<string, unknown> = {};
  const fields = plan.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const v = m[f.name];
    if (f.oneof !== null) {
      // Only the member that is set (protobufjs exposes the case as a virtual property).
      const has = f.oneof in m;
      if (has ? m[f.oneof] !== f.name : unset(v)) continue;
    } else if (f.isDefault(v)) {
      if (o.emitDefaults) out[o.useProtoNames ? f.name : f.json] = f.defaultOut(o);
      continue;
    }
    const key = o.useProtoNames ? f.name : f.json;
    if (f.shape === 'map') {
      const mo: Record<string, unknown> = {};
      const long = f.longKey;
      // protobufjs keys 64-bit maps by an 8-byte "hash" string: JSON wants the decimal number
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) mo[long === undefined ? k : protobuf.util.LongBits.fromHash(k).toLong(long).toString()] = f.value(x, o);
      out[key] = mo;
    } else if (f.shape === 'list') {
      const list = v as unknown[];
      const lo = new Array(list.length);
      for (let j = 0; j < list.length; j++) lo[j] = f.value(list[j], o);
      out[key] = lo;
    } else out[key] = f.value(v, o);
  }
  return out;
}
