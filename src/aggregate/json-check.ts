// Whether bytes are exactly one JSON object (RFC 8259), checked without building it: what
// lets a composition splice a backend's answer into its own unparsed (compose.ts). It may
// say no to valid JSON (a byte-order mark, for one): the caller then parses as before. It
// never says yes to what JSON.parse would refuse. UTF-8 itself is checked by the caller.

const WS = new Uint8Array(256);
WS[0x20] = WS[0x09] = WS[0x0a] = WS[0x0d] = 1;
const ESCAPED = new Uint8Array(256);
for (const c of '"\\/bfnrt') ESCAPED[c.charCodeAt(0)] = 1;
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;
const isDigit = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x39;

const OPEN_OBJECT = 0x7b, CLOSE_OBJECT = 0x7d, OPEN_ARRAY = 0x5b, CLOSE_ARRAY = 0x5d, QUOTE = 0x22, BACKSLASH = 0x5c, COMMA = 0x2c, COLON = 0x3a;

function skip(b: Uint8Array, i: number): number {
  while (i < b.length && WS[b[i]!]) i++;
  return i;
}

/** The index after the string starting at b[i] (a quote), or -1. */
function string(b: Uint8Array, i: number): number {
  i++;
  for (;;) {
    if (i >= b.length) return -1;
    const c = b[i]!;
    if (c === QUOTE) return i + 1;
    if (c < 0x20) return -1;
    if (c === BACKSLASH) {
      const e = b[i + 1];
      if (e === 0x75) { // \uXXXX
        if (!(HEX[b[i + 2]!] && HEX[b[i + 3]!] && HEX[b[i + 4]!] && HEX[b[i + 5]!])) return -1;
        i += 6;
      } else if (e !== undefined && ESCAPED[e]) i += 2;
      else return -1;
    } else i++;
  }
}

/** The index after the number starting at b[i], or -1. */
function number(b: Uint8Array, i: number): number {
  if (b[i] === 0x2d) i++;
  if (b[i] === 0x30) i++;
  else if (isDigit(b[i])) while (isDigit(b[i])) i++;
  else return -1;
  if (b[i] === 0x2e) {
    i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === 0x2d) i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  return i;
}

function literal(b: Uint8Array, i: number, word: string): number {
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word.charCodeAt(k)) return -1;
  return i + word.length;
}

/** After `{` or `,` in an object: a key and its colon; the index of the value, or -1. */
function key(b: Uint8Array, i: number): number {
  if (b[i] !== QUOTE) return -1;
  i = string(b, i);
  if (i < 0) return -1;
  i = skip(b, i);
  return b[i] === COLON ? skip(b, i + 1) : -1;
}

export function isJsonObject(b: Uint8Array): boolean {
  let i = skip(b, 0);
  if (b[i] !== OPEN_OBJECT) return false;
  const open: number[] = []; // the containers around i, innermost last
  let value = true; // i is where a value starts (else: right after one)
  while (i >= 0) {
    if (value) {
      const c = b[i];
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        open.push(c);
        i = skip(b, i + 1);
        if (b[i] === (c === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) { open.pop(); i++; value = false; continue; }
        if (c === OPEN_OBJECT) i = key(b, i);
        continue;
      }
      if (c === QUOTE) i = string(b, i);
      else if (c === 0x2d || isDigit(c)) i = number(b, i);
      else if (c === 0x74) i = literal(b, i, 'true');
      else if (c === 0x66) i = literal(b, i, 'false');
      else if (c === 0x6e) i = literal(b, i, 'null');
      else return false;
      value = false;
      continue;
    }
    i = skip(b, i);
    const top = open[open.length - 1];
    if (top === undefined) return i === b.length;
    const c = b[i];
    if (c === COMMA) {
      i = skip(b, i + 1);
      if (top === OPEN_OBJECT) i = key(b, i);
      value = true;
    } else if (c === (top === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) {
      open.pop();
      i++;
    } else return false;
  }
  return false;
}
