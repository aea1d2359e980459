// The transcoding benchmark messages (demo.catalog.v1.Everything): ~10 fields, and 64 KB.
export function benchMessage(size: 'small' | 'large'): Record<string, unknown> {
  const base = { text: 'benchmark', i32: 42, i64: '9007199254740991', flag: true, dbl: 3.25, genre: 'SCIENCE', numbers: ['1', '2', '3'], nested: { value: 'n' }, when: '2024-01-02T03:04:05Z', counts: { a: 1 } };
  return size === 'small' ? base : { ...base, text: 'x'.repeat(64 * 1024) };
}

/** The aggregate benchmark's gRPC backend request (Echo answers it back): ~1 KB of JSON. */
export function aggregateEchoRequest(): Record<string, unknown> {
  return { ...benchMessage('small'), text: 'x'.repeat(800) };
}
