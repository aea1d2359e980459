// google.api.http path templates (HttpRule): parse once, match request paths.
//   Template = "/" Segments [ ":" Verb ]
//   Segment  = "*" | "**" | LITERAL | "{" FieldPath [ "=" Segments ] "}"
// A single-segment variable is fully percent-decoded; a multi-segment one keeps "%2F"
// encoded (the HttpRule spec), so "a%2Fb" stays distinguishable from "a/b".

export interface TemplateVar { fieldPath: string[]; start: number; end: number /** -1: to the end (**) */ }

export interface PathTemplate {
  source: string;
  /** literal text, or '*' (one segment), or '**' (the rest) */
  segments: string[];
  vars: TemplateVar[];
  verb: string | null;
  /** literal segments (more is more specific) */
  literals: number;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LITERAL = /^[A-Za-z0-9._~!$&'()+,;=@-]+$/;

export function parseTemplate(source: string): PathTemplate {
  if (!source.startsWith('/')) throw new Error(`path template "${source}" must start with "/"`);
  let body = source.slice(1);
  let verb: string | null = null;
  // The verb is the ":" suffix after the last segment (outside braces).
  const lastSlash = body.lastIndexOf('/');
  const lastClose = body.lastIndexOf('}');
  const colon = body.indexOf(':', Math.max(lastSlash, lastClose));
  if (colon >= 0) {
    verb = body.slice(colon + 1);
    body = body.slice(0, colon);
    if (!LITERAL.test(verb)) throw new Error(`path template "${source}": bad verb "${verb}"`);
  }
  const segments: string[] = [];
  const vars: TemplateVar[] = [];
  const parts: string[] = [];
  // split on "/" outside braces
  let depth = 0, cur = '';
  for (const ch of body) {
    if (ch === '{') depth++;
    if (ch === '}') depth--;
    if (ch === '/' && depth === 0) { parts.push(cur); cur = ''; continue; }
    cur += ch;
  }
  parts.push(cur);
  if (depth !== 0) throw new Error(`path template "${source}": unbalanced braces`);
  for (const part of parts) {
    if (part.startsWith('{')) {
      if (!part.endsWith('}')) throw new Error(`path template "${source}": bad variable "${part}"`);
      const inner = part.slice(1, -1);
      const eq = inner.indexOf('=');
      const fieldPath = (eq < 0 ? inner : inner.slice(0, eq)).split('.');
      if (!fieldPath.every((f) => IDENT.test(f))) throw new Error(`path template "${source}": bad field path "${fieldPath.join('.')}"`);
      const sub = eq < 0 ? ['*'] : inner.slice(eq + 1).split('/');
      const start = segments.length;
      for (const s of sub) {
        if (s !== '*' && s !== '**' && !LITERAL.test(s)) throw new Error(`path template "${source}": bad segment "${s}"`);
        segments.push(s);
      }
      vars.push({ fieldPath, start, end: sub.includes('**') ? -1 : segments.length });
    } else {
      if (part !== '*' && part !== '**' && !LITERAL.test(part)) throw new Error(`path template "${source}": bad segment "${part}"`);
      segments.push(part);
    }
  }
  const dstar = segments.indexOf('**');
  if (dstar >= 0 && dstar !== segments.length - 1) throw new Error(`path template "${source}": "**" must be the last segment`);
  return { source, segments, vars, verb, literals: segments.filter((s) => s !== '*' && s !== '**').length };
}

function decodeSegment(s: string): string | null {
  try { return decodeURIComponent(s); } catch { return null; }
}

/** Decodes everything but %2F/%2f (kept as the client wrote them), for multi-segment variables. */
function decodeKeepSlash(s: string): string | null {
  // split with a capture group: the escapes themselves are every other part, kept byte for byte
  try { return s.split(/(%2F)/i).map((p, i) => (i % 2 === 1 ? p : decodeURIComponent(p))).join(''); } catch { return null; }
}

/** Splits a request path (no query) into raw segments and verb for matching. */
export function splitPath(path: string): { segments: string[]; verb: string | null } {
  const segs = path.slice(1).split('/');
  const last = segs[segs.length - 1]!;
  const colon = last.lastIndexOf(':');
  if (colon > 0) return { segments: [...segs.slice(0, -1), last.slice(0, colon)], verb: last.slice(colon + 1) };
  return { segments: segs, verb: null };
}

/**
 * Variable bindings when `path` matches, else null. A template without a verb also
 * tries the whole last segment (a ":" inside a value, like "{name}" = "a:b") — unless the
 * suffix is a verb some binding registers (`verbRegistered`): then it is that verb, and
 * only templates with it match (grpc-gateway and Envoy: a 404 where no rule binds it).
 */
export function matchTemplate(t: PathTemplate, split: { segments: string[]; verb: string | null }, verbRegistered = false): Map<string, string> | null {
  let segs = split.segments;
  if (t.verb !== null) {
    if (split.verb !== t.verb) return null;
  } else if (split.verb !== null) {
    if (verbRegistered) return null;
    segs = [...segs.slice(0, -1), `${segs[segs.length - 1]}:${split.verb}`];
  }
  const ts = t.segments;
  const dstar = ts[ts.length - 1] === '**';
  if (dstar ? segs.length < ts.length - 1 : segs.length !== ts.length) return null;
  for (let i = 0; i < ts.length; i++) {
    const want = ts[i]!;
    if (want === '**') break;
    const got = segs[i]!;
    if (want === '*') { if (got === '') return null; continue; }
    if (decodeSegment(got) !== want) return null;
  }
  const out = new Map<string, string>();
  for (const v of t.vars) {
    const end = v.end === -1 ? segs.length : v.end;
    const raw = segs.slice(v.start, end);
    const value = raw.length === 1 && v.end !== -1 ? decodeSegment(raw[0]!) : decodeKeepSlash(raw.join('/'));
    if (value === null) return null;
    out.set(v.fieldPath.join('.'), value);
  }
  return out;
}
