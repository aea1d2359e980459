// Placeholders in an aggregate backend's path and gRPC request: {params.id},
// {query.page}, {headers.x-tenant}, {identity.consumer}, {identity.claims.sub},
// {steps.user.favoriteShelf}. Parsed once at load into parts; filled per request.

export type Source = 'params' | 'query' | 'headers' | 'identity' | 'steps';
const SOURCES: ReadonlySet<string> = new Set(['params', 'query', 'headers', 'identity', 'steps']);
const IDENTITY_FIELDS: ReadonlySet<string> = new Set(['consumer', 'groups', 'tenant', 'plan', 'scopes', 'claims']);

export interface Placeholder {
  readonly source: Source;
  /** the param, query parameter, header (lower case), identity field or step name */
  readonly key: string;
  /** steps: the dot path into the step's result; identity.claims: the claim path */
  readonly path: readonly string[];
  /** as written, for messages */
  readonly text: string;
}

export type Part = string | Placeholder;

/** The parts of `template`, or why it does not parse. */
export function parseTemplate(template: string): Part[] | { error: string } {
  const parts: Part[] = [];
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{', i);
    const close = template.indexOf('}', i);
    if (close >= 0 && (open < 0 || close < open)) return { error: `unmatched "}" at ${close}` };
    if (open < 0) { parts.push(template.slice(i)); break; }
    if (open > i) parts.push(template.slice(i, open));
    const end = template.indexOf('}', open);
    if (end < 0) return { error: `unclosed "{" at ${open}` };
    const text = template.slice(open + 1, end);
    const p = placeholderOf(text);
    if ('error' in p) return p;
    parts.push(p);
    i = end + 1;
  }
  return parts;
}

function placeholderOf(text: string): Placeholder | { error: string } {
  const segs = text.split('.');
  const [source, key, ...path] = segs;
  if (!source || !SOURCES.has(source)) return { error: `{${text}}: a placeholder starts with params., query., headers., identity. or steps.` };
  if (!key || segs.some((s) => s === '')) return { error: `{${text}}: empty name` };
  if (source === 'identity') {
    if (!IDENTITY_FIELDS.has(key)) return { error: `{${text}}: identity has consumer, groups, tenant, plan, scopes and claims.NAME` };
    if ((key === 'claims') !== (path.length > 0)) return { error: `{${text}}: ${key === 'claims' ? 'name the claim (identity.claims.sub)' : `identity.${key} has no fields`}` };
  } else if (source === 'steps') {
    if (path.length === 0) return { error: `{${text}}: name a field of the step (steps.${key}.id)` };
  } else if (path.length > 0) {
    // a header or query parameter name may contain dots: keep them in the key
    return { source: source as Source, key: source === 'headers' ? [key, ...path].join('.').toLowerCase() : [key, ...path].join('.'), path: [], text };
  }
  return { source: source as Source, key: source === 'headers' ? key.toLowerCase() : key, path, text };
}

/** Reads a placeholder's value for one request (undefined: it has none). */
export type Lookup = (p: Placeholder) => unknown;

/** Reads a dot path into a JSON value. */
export function atPath(value: unknown, path: readonly string[]): unknown {
  let v = value;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    // own properties only: "constructor" or "__proto__" in a path must not reach Object's
    v = Array.isArray(v) ? (/^\d+$/.test(k) ? v[Number(k)] : undefined) : Object.prototype.hasOwnProperty.call(v, k) ? (v as Record<string, unknown>)[k] : undefined;
  }
  return v;
}

export class MissingValue extends Error {
  constructor(readonly placeholder: Placeholder) { super(`{${placeholder.text}} has no value`); }
}

function text(v: unknown, encode: boolean): string {
  const s = typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return encode ? encodeURIComponent(s) : s;
}

/** A path: every value percent-encoded; an array's elements joined with commas (as KrakenD). */
export function renderPath(parts: readonly Part[], lookup: Lookup): string {
  let out = '';
  for (const p of parts) {
    if (typeof p === 'string') { out += p; continue; }
    const v = lookup(p);
    if (v === undefined || v === null) throw new MissingValue(p);
    out += Array.isArray(v) ? v.map((e) => text(e, true)).join(',') : text(v, true);
  }
  return out;
}

/** A compiled JSON template: strings with placeholders are parts; everything else is kept. */
export type JsonTemplate = { parts: Part[] } | { value: unknown } | { object: Array<[string, JsonTemplate]> } | { array: JsonTemplate[] };

export function compileJson(v: unknown, problems: string[], at: string): JsonTemplate {
  if (typeof v === 'string') {
    if (!v.includes('{') && !v.includes('}')) return { value: v };
    const parts = parseTemplate(v);
    if ('error' in parts) { problems.push(`${at}: ${parts.error}`); return { value: v }; }
    return { parts };
  }
  if (Array.isArray(v)) return { array: v.map((e, i) => compileJson(e, problems, `${at}[${i}]`)) };
  if (v !== null && typeof v === 'object') return { object: Object.entries(v).map(([k, e]) => [k, compileJson(e, problems, `${at}.${k}`)]) };
  return { value: v };
}

/** Fills a JSON template: a string that is one placeholder keeps the value's type; others are concatenated text. */
export function renderJson(t: JsonTemplate, lookup: Lookup): unknown {
  if ('value' in t) return t.value;
  if ('array' in t) return t.array.map((e) => renderJson(e, lookup));
  if ('object' in t) {
    const out: Record<string, unknown> = {};
    for (const [k, e] of t.object) out[k] = renderJson(e, lookup);
    return out;
  }
  const { parts } = t;
  if (parts.length === 1 && typeof parts[0] !== 'string') {
    const v = lookup(parts[0]!);
    if (v === undefined) throw new MissingValue(parts[0]!);
    return v;
  }
  let out = '';
  for (const p of parts) {
    if (typeof p === 'string') { out += p; continue; }
    const v = lookup(p);
    if (v === undefined || v === null) throw new MissingValue(p);
    out += Array.isArray(v) ? v.map((e) => text(e, false)).join(',') : text(v, false);
  }
  return out;
}

/** Every placeholder of a template. */
export function placeholdersOf(t: Part[] | JsonTemplate): Placeholder[] {
  if (Array.isArray(t)) return t.filter((p): p is Placeholder => typeof p !== 'string');
  if ('parts' in t) return placeholdersOf(t.parts);
  if ('array' in t) return t.array.flatMap(placeholdersOf);
  if ('object' in t) return t.object.flatMap(([, e]) => placeholdersOf(e));
  return [];
}

/** A JSON pointer ("/a/b~1c") as path segments. */
export function pointerPath(pointer: string): string[] {
  return pointer.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}
