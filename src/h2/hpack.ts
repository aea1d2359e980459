// HPACK (RFC 7541) for the gateway's own HTTP/2 client: a decoder with the dynamic table and
// Huffman strings (what servers send), and an encoder that never indexes (no table to keep
// in step with the peer's): exact static matches as indexes, other fields as literals with
// a static name index where there is one, values Huffman-coded when that is shorter.
import { huffmanDecode, huffmanEncode, huffmanLength } from './huffman.js';

const STATIC: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];
const STATIC_NAME = new Map<string, number>();
const STATIC_PAIR = new Map<string, number>();
STATIC.forEach(([n, v], i) => {
  if (!STATIC_NAME.has(n)) STATIC_NAME.set(n, i + 1);
  if (v) STATIC_PAIR.set(`${n}\0${v}`, i + 1);
});

export class HpackError extends Error {
  override name = 'HpackError';
}

/** The decoder of one connection's header blocks, in the order they arrive. */
export class HpackDecoder {
  /** newest first */
  private table: Array<[string, string]> = [];
  private size = 0;
  private max: number;

  /** `maxTableSize`: the SETTINGS_HEADER_TABLE_SIZE this side advertised; `maxListBytes`: a header list's bound (names + values + 32 each) */
  constructor(private readonly maxTableSize = 4096, private readonly maxListBytes = 64 * 1024) { this.max = maxTableSize; }

  /**
   * The fields of one whole header block; throws HpackError (a connection error: the table is
   * out of step). null when the list is over maxListBytes: the block is still decoded to its
   * end, so the table stays in step and only that stream need fail.
   */
  decode(b: Uint8Array): Array<[string, string]> | null {
    const out: Array<[string, string]> = [];
    let at = 0, listBytes = 0;
    const int = (prefixBits: number): number => {
      const mask = (1 << prefixBits) - 1;
      let v = b[at++]! & mask;
      if (v < mask) return v;
      let shift = 0, byte: number;
      do {
        if (at >= b.length) throw new HpackError('truncated integer');
        byte = b[at++]!;
        v += (byte & 0x7f) * 2 ** shift;
        shift += 7;
        if (shift > 28) throw new HpackError('integer too large');
      } while (byte & 0x80);
      return v;
    };
    const str = (): string => {
      if (at >= b.length) throw new HpackError('truncated string');
      const huff = (b[at]! & 0x80) !== 0;
      const len = int(7);
      if (at + len > b.length) throw new HpackError('truncated string');
      const s = huff ? huffmanDecode(b, at, at + len) : Buffer.from(b.buffer, b.byteOffset + at, len).toString('latin1');
      if (s === null) throw new HpackError('bad Huffman string');
      at += len;
      return s;
    };
    const field = (i: number): readonly [string, string] => {
      if (i >= 1 && i <= STATIC.length) return STATIC[i - 1]!;
      const e = this.table[i - STATIC.length - 1];
      if (i === 0 || !e) throw new HpackError(`index ${i} out of range`);
      return e;
    };
    let sizeUpdateAllowed = true;
    while (at < b.length) {
      const byte = b[at]!;
      let name: string, value: string;
      if (byte & 0x80) {
        [name, value] = field(int(7));
      } else if (byte & 0x40) {
        const i = int(6);
        name = i ? field(i)[0] : str();
        value = str();
        this.add(name, value);
      } else if (byte & 0x20) {
        if (!sizeUpdateAllowed) throw new HpackError('table size update after a field');
        const size = int(5);
        if (size > this.maxTableSize) throw new HpackError('table size update over the advertised size');
        this.max = size;
        this.evict(0);
        continue;
      } else {
        const i = int(4); // without indexing (0000) or never indexed (0001)
        name = i ? field(i)[0] : str();
        value = str();
      }
      sizeUpdateAllowed = false;
      listBytes += name.length + value.length + 32;
      if (listBytes <= this.maxListBytes) out.push([name, value]);
    }
    return listBytes > this.maxListBytes ? null : out;
  }

  private add(name: string, value: string): void {
    const n = name.length + value.length + 32;
    this.evict(n);
    if (n > this.max) return; // larger than the table: it empties it (RFC 7541 §4.4)
    this.table.unshift([name, value]);
    this.size += n;
  }

  private evict(room: number): void {
    while (this.table.length && this.size + room > this.max) {
      const [n, v] = this.table.pop()!;
      this.size -= n.length + v.length + 32;
    }
  }
}

/** Writes an integer with an N-bit prefix (the prefix byte's high bits in `flags`) at `at`; the end. */
function putInt(out: Buffer, at: number, v: number, prefixBits: number, flags: number): number {
  const mask = (1 << prefixBits) - 1;
  if (v < mask) { out[at++] = flags | v; return at; }
  out[at++] = flags | mask;
  v -= mask;
  while (v >= 128) { out[at++] = (v & 0x7f) | 0x80; v = Math.floor(v / 128); }
  out[at++] = v;
  return at;
}

function putString(out: Buffer, at: number, s: string): number {
  const h = huffmanLength(s);
  if (h < s.length) return huffmanEncode(s, out, putInt(out, at, h, 7, 0x80));
  at = putInt(out, at, s.length, 7, 0);
  return at + out.write(s, at, 'latin1');
}

/** One field: an exact static match as its index, otherwise a literal without indexing (static name index where there is one). */
function encodeField(out: Buffer, at: number, name: string, value: string): number {
  const exact = STATIC_PAIR.get(`${name}\0${value}`);
  if (exact) return putInt(out, at, exact, 7, 0x80);
  const ni = STATIC_NAME.get(name) ?? 0;
  at = putInt(out, at, ni, 4, 0x00);
  if (!ni) at = putString(out, at, name);
  return putString(out, at, value);
}

/** Fields that repeat call after call (a channel's authority, a method's path): their bytes are kept.
 * Only these names: a value from the client (a token, a request id) is never kept. */
const KEPT = new Set([':method', ':scheme', ':authority', ':path', 'content-type', 'te', 'grpc-accept-encoding', 'grpc-encoding', 'user-agent']);
const kept = new Map<string, Buffer>();
const KEPT_MAX = 4096;
let scratch = Buffer.allocUnsafe(16384);

/** A header block for `fields` (lowercase names, pseudo-headers first); nothing is added to the peer's table. */
export function encodeHeaders(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  // a field takes at most 2 × 5 integer bytes plus its strings (Huffman never longer than the raw bytes)
  let need = 0;
  for (const [n, v] of fields) need += n.length + v.length + 10;
  if (need > scratch.length) scratch = Buffer.allocUnsafe(need);
  const out = scratch;
  let at = 0;
  for (const [name, value] of fields) {
    if (!KEPT.has(name)) { at = encodeField(out, at, name, value); continue; }
    const key = `${name}\0${value}`;
    let b = kept.get(key);
    if (!b) {
      const end = encodeField(out, at, name, value);
      b = Buffer.from(out.subarray(at, end));
      if (kept.size >= KEPT_MAX) kept.clear();
      kept.set(key, b);
    }
    out.set(b, at);
    at += b.length;
  }
  return Buffer.from(out.subarray(0, at));
}
