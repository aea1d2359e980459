// The request target, checked and normalised once: the gateway routes on the result and
// forwards exactly it (plus rewrite/stripPrefix), never the raw path, so an upstream can
// never see a path that means something the router did not match (docs/security.md).
//
// - Only printable ASCII: control characters, spaces, DEL and bytes >= 0x80 are a 400
//   (uWS hands bytes >= 0x80 to JS as UTF-8; they could not be forwarded as sent anyway).
// - `#` is a 400 (a fragment is never part of a request target); so are a malformed
//   escape and an encoded control character (%00-%1F, %7F).
// - Escapes of unreserved characters are decoded (`%61` → `a`, `%2e` → `.`), other escapes
//   get upper-case hex (`%2f` → `%2F`), dot segments are resolved (RFC 3986 5.2.4, so also
//   encoded ones), repeated slashes are merged (nginx's merge_slashes; configurable).
// - An encoded slash or backslash (`%2F`, `%5C`), a raw `\` and `;` path parameters are
//   reported as flags: the route decides (rejected unless it opts in with `allowInPath`).

/** Flags of constructs an upstream may read differently from the gateway's router. */
export const ENCODED_SLASH = 1;
export const BACKSLASH = 2;
export const SEMICOLON = 4;

export const PATH_FLAG_NAMES: Record<string, number> = { 'encoded-slash': ENCODED_SLASH, backslash: BACKSLASH, semicolon: SEMICOLON };

export type PathResult = { ok: true; path: string; flags: number } | { ok: false; reason: string };

const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

function isUnreserved(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95 || c === 126;
}

/** Checks and normalises a raw path (one pass over its characters; a second only when it needs work). */
export function normalisePath(raw: string, mergeSlashes: boolean): PathResult {
  if (raw.charCodeAt(0) !== 47) return { ok: false, reason: 'the request target must start with "/"' };
  let flags = 0;
  let work = false;
  const n = raw.length;
  for (let i = 0; i < n; i++) {
    const c = raw.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return { ok: false, reason: 'control character, space or non-ASCII byte in the request target' };
    if (c === 37 /* % */) {
      const h = hexValue(raw.charCodeAt(i + 1)), l = hexValue(raw.charCodeAt(i + 2));
      if (h < 0 || l < 0) return { ok: false, reason: 'malformed percent-escape in the path' };
      const v = h * 16 + l;
      // An encoded control character (%00 truncates C strings, %0D%0A splits headers a
      // backend may build from the path) has no business in a path.
      if (v < 0x20 || v === 0x7f) return { ok: false, reason: 'an encoded control character in the path' };
      if (v === 0x2f || v === 0x5c) flags |= ENCODED_SLASH;
      work = true;
      i += 2;
    } else if (c === 47 /* / */) {
      const next = raw.charCodeAt(i + 1);
      if (next === 46 /* . */ || (next === 47 && mergeSlashes)) work = true;
    } else if (c === 92 /* \ */) {
      flags |= BACKSLASH;
    } else if (c === 59 /* ; */) {
      flags |= SEMICOLON;
    } else if (c === 35 /* # */) {
      return { ok: false, reason: 'a fragment ("#") is not allowed in the request target' };
    }
  }
  return { ok: true, path: work ? normaliseSlow(raw, mergeSlashes) : raw, flags };
}

/** Decodes unreserved escapes in one segment and upper-cases the others. */
function decodeUnreserved(seg: string): string {
  if (!seg.includes('%')) return seg;
  let out = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charCodeAt(i);
    if (c !== 37) { out += seg[i]; continue; }
    const v = hexValue(seg.charCodeAt(i + 1)) * 16 + hexValue(seg.charCodeAt(i + 2));
    out += isUnreserved(v) ? String.fromCharCode(v) : '%' + HEX[v >> 4] + HEX[v & 15];
    i += 2;
  }
  return out;
}

function normaliseSlow(raw: string, mergeSlashes: boolean): string {
  const segs = raw.split('/');
  const out: string[] = [];
  const last = segs.length - 1;
  for (let i = 1; i <= last; i++) {
    const s = decodeUnreserved(segs[i]!);
    if (s === '.' || s === '..') {
      if (s === '..') out.pop();
      if (i === last) out.push(''); // "/a/b/.." is the directory "/a/"
      continue;
    }
    if (s === '' && mergeSlashes && i !== last) continue;
    out.push(s);
  }
  return '/' + out.join('/');
}

/** Checks a raw query string: printable ASCII only, no fragment (escapes are the upstream's business). */
export function checkQuery(query: string): string | undefined {
  for (let i = 0; i < query.length; i++) {
    const c = query.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return 'control character, space or non-ASCII byte in the query string';
    if (c === 35) return 'a fragment ("#") is not allowed in the request target';
  }
  return undefined;
}
