// JSON answers of unary transcoded calls, compressed in the pool worker for clients that
// accept it (transcoding.compressAboveBytes): br before gzip, as the client's Accept-Encoding
// allows (q=0 refuses; "*" accepts both). Brotli at quality 4 and gzip at level 5: most of
// the size win for a fraction of the default levels' CPU.
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';

export type Encoding = 'br' | 'gzip';

/** The encoding to use for `accept` (an Accept-Encoding value), or null. */
export function chooseEncoding(accept: string): Encoding | null {
  const q: Record<string, number> = {};
  for (const part of accept.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    let weight = 1;
    for (const p of params) { const m = /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p); if (m) weight = Number(m[1]); }
    q[name] = Number.isFinite(weight) ? weight : 0;
  }
  const ok = (e: Encoding) => (q[e] ?? q['*'] ?? 0) > 0;
  return ok('br') ? 'br' : ok('gzip') ? 'gzip' : null;
}

/** `body` compressed when it is at least minBytes and the client takes an encoding, else null. */
export function compress(body: string | Buffer, minBytes: number, accept: string): { encoding: Encoding; bytes: Buffer } | null {
  if (Buffer.byteLength(body) < minBytes) return null;
  const encoding = chooseEncoding(accept);
  if (!encoding) return null;
  const bytes = encoding === 'br'
    ? brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 4, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT } })
    : gzipSync(body, { level: 5 });
  return { encoding, bytes };
}
