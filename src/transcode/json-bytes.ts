// Response JSON with long strings written straight into the output bytes.
//
// Why: on Node 20's V8, JSON.stringify escapes a string one character at a time (~1 ns a
// character), then Buffer.from encodes the whole text once more: ~100 µs and two 64 KB
// strings of garbage for a 64 KB field. Here a long string is UTF-8-encoded in place
// (native) and checked four bytes at a time for what JSON must escape; only a string that
// has such a byte goes through JSON.stringify (the whole value then does).

/** A decoded string at least LONG_STRING characters long, in messageOut's output; its
 *  toJSON keeps JSON.stringify of the value correct. */
export class LongString {
  constructor(readonly text: string) {}
  toJSON(): string { return this.text; }
}

/** Strings this long (UTF-16 units) are written as bytes (shorter ones: JSON.stringify). */
export const LONG_STRING = 4096;

type Part = string | LongString;

/** Serialises like JSON.stringify (messageOut's plain values), long strings as separate parts. */
function serialise(v: unknown, parts: Part[], text: string): string {
  if (v instanceof LongString) { parts.push(text, v); return ''; }
  if (v === null || typeof v !== 'object') return text + (JSON.stringify(v) ?? 'null');
  if (Array.isArray(v)) {
    text += '[';
    for (let i = 0; i < v.length; i++) {
      if (i) text += ',';
      text = v[i] === undefined ? text + 'null' : serialise(v[i], parts, text);
    }
    return text + ']';
  }
  text += '{';
  let first = true;
  for (const k of Object.keys(v)) {
    const x = (v as Record<string, unknown>)[k];
    if (x === undefined || typeof x === 'function') continue;
    text += (first ? '' : ',') + JSON.stringify(k) + ':';
    first = false;
    text = serialise(x, parts, text);
  }
  return text + '}';
}

/** The first byte in b[from, to) that JSON must escape inside a string (< 0x20, '"', '\\'), or -1. */
export function firstEscape(b: Uint8Array, from: number, to: number): number {
  let i = from;
  while (i < to && ((b.byteOffset + i) & 3) !== 0) { const c = b[i]!; if (c < 0x20 || c === 0x22 || c === 0x5c) return i; i++; }
  if (i >= to) return -1;
  const words = new Int32Array(b.buffer, b.byteOffset + i, (to - i) >> 2);
  for (let k = 0; k < words.length; k++) {
    const x = words[k]!;
    const q = x ^ 0x22222222;
    const r = x ^ 0x5c5c5c5c;
    // per byte: below 0x20, or zero after the xor (the classic "has a zero byte" test)
    if ((((x - 0x20202020) & ~x) | ((q - 0x01010101) & ~q) | ((r - 0x01010101) & ~r)) & 0x80808080) {
      for (let j = i + k * 4; ; j++) { const c = b[j]!; if (c < 0x20 || c === 0x22 || c === 0x5c) return j; }
    }
  }
  for (i += words.length * 4; i < to; i++) { const c = b[i]!; if (c < 0x20 || c === 0x22 || c === 0x5c) return i; }
  return -1;
}

/**
 * `value` (messageOut's output, which marks long strings as LongString) as JSON: a Buffer
 * with an ArrayBuffer of its own when it holds a long string, else the JSON text.
 */
export function jsonOf(value: unknown, hasLong: boolean): string | Buffer {
  if (!hasLong) return JSON.stringify(value);
  const parts: Part[] = [];
  parts.push(serialise(value, parts, ''));
  let size = 0;
  for (const p of parts) size += typeof p === 'string' ? Buffer.byteLength(p) : Buffer.byteLength(p.text) + 2;
  const out = Buffer.allocUnsafeSlow(size); // an ArrayBuffer of its own (moved to the front thread), not zero-filled
  let at = 0;
  for (const p of parts) {
    if (typeof p === 'string') { at += out.write(p, at); continue; }
    out[at++] = 0x22;
    const n = out.write(p.text, at);
    // Decoded strings are well-formed UTF-16 (protobufjs decodes with utf8Slice), so the
    // UTF-8 bytes need escaping exactly where the text does.
    if (firstEscape(out, at, at + n) >= 0) return JSON.stringify(value);
    at += n;
    out[at++] = 0x22;
  }
  return out;
}
