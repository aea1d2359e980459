// HPACK's Huffman code (RFC 7541 Appendix B). The code is canonical: codes of one length
// are consecutive in symbol order, so the code lengths of the 257 symbols (256 = EOS)
// determine it. One character per symbol: 0-f for 0-15 bits, g-u for 16-30.
const LENGTHS = 'dnsssssssoussussssssssusssssssss6aacd68baa8b8666555666666678f6cad67777777777777777777777878djde6f56565666577666567655677777fbedskmkkmmmnmnnnnnonoomnonnnnlmnmnnomlkmmnnlnmmolmnnllmlnmnnkmmmnmmnqqkjmnmpqqqrrqopjlqrrqrollqqsrrrkoklmllnmmppooqnqrqqrrrrrsrrrrrqu';

const EOS = 256;
const lengthOf = (c: string) => (c <= '9' ? c.charCodeAt(0) - 48 : c <= 'f' ? c.charCodeAt(0) - 87 : c.charCodeAt(0) - 103 + 16);

/** for each length: the first code, how many codes, where its symbols start in `symbols` */
const firstCode = new Int32Array(32);
const count = new Int32Array(32);
const offset = new Int32Array(32);
const symbols = new Uint16Array(257);
/** encoder side: code and length per symbol */
const codes = new Uint32Array(257);
const lengths = new Uint8Array(257);

(function build() {
  for (let s = 0; s < 257; s++) { lengths[s] = lengthOf(LENGTHS[s]!); count[lengths[s]!]++; }
  let code = 0, at = 0;
  for (let len = 1; len < 32; len++) {
    firstCode[len] = code;
    offset[len] = at;
    at += count[len]!;
    code = (code + count[len]!) << 1;
  }
  const next = Int32Array.from(firstCode);
  const fill = Int32Array.from(offset);
  for (let s = 0; s < 257; s++) {
    const len = lengths[s]!;
    codes[s] = next[len]!++;
    symbols[fill[len]!++] = s;
  }
})();

/** Decodes a Huffman string into latin1; null when it is malformed (EOS inside, padding over 7 bits or not all ones). */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string | null {
  let out = '';
  let code = 0, len = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i]!;
    for (let b = 7; b >= 0; b--) {
      code = (code << 1) | ((byte >> b) & 1);
      len++;
      const k = code - firstCode[len]!;
      if (k >= 0 && k < count[len]!) {
        const s = symbols[offset[len]! + k]!;
        if (s === EOS) return null;
        out += String.fromCharCode(s);
        code = 0; len = 0;
      } else if (len >= 30) return null;
    }
  }
  // what is left must be a prefix of EOS (all ones), shorter than a byte
  if (len > 7 || code !== (1 << len) - 1) return null;
  return out;
}

/** Bytes of `s` (latin1) Huffman-encoded. */
export function huffmanLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += lengths[s.charCodeAt(i) & 0xff]!;
  return (bits + 7) >> 3;
}

export function huffmanEncode(s: string, out: Uint8Array, at: number): number {
  let acc = 0, bits = 0;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    const len = lengths[sym]!;
    const c = codes[sym]!;
    // at most 30 bits a symbol: emit in pieces so `acc` stays within 32 bits
    let left = len;
    while (left > 0) {
      const take = Math.min(left, 24 - bits);
      acc = (acc << take) | ((c >>> (left - take)) & ((1 << take) - 1));
      bits += take;
      left -= take;
      while (bits >= 8) { out[at++] = (acc >>> (bits - 8)) & 0xff; bits -= 8; acc &= (1 << bits) - 1; }
    }
  }
  if (bits > 0) out[at++] = ((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff;
  return at;
}
