// Trace and span ids (the random pool turned into hex once per refill), the sampling word,
// and the traceparent parser's edge cases.
import t from 'tap';
import { lastTraceIdXor, newSpanId, newTraceId, parseTraceparent, traceparent } from '../src/observability/tracing/trace-context.js';
import { ratioSampled } from '../src/observability/tracing/tracer.js';

t.test('ids: lower-case hex of the right length, never zero, unique across pool refills', async (t) => {
  const traces = new Set<string>();
  const spans = new Set<string>();
  let bad = 0;
  let xorMismatch = 0;
  let sampled = 0;
  const N = 100_000; // 2.4 MB of random bytes: ~150 refills of the 16 KB pool
  for (let i = 0; i < N; i++) {
    const id = newTraceId();
    const words = [0, 8, 16, 24].map((o) => parseInt(id.slice(o, o + 8), 16));
    if (((words[0]! ^ words[1]! ^ words[2]! ^ words[3]!) >>> 0) !== lastTraceIdXor) xorMismatch++;
    if (ratioSampled(lastTraceIdXor, 0.01)) sampled++;
    const span = newSpanId();
    if (!/^[0-9a-f]{32}$/.test(id) || !/^[0-9a-f]{16}$/.test(span) || /^0+$/.test(id) || /^0+$/.test(span)) bad++;
    traces.add(id);
    spans.add(span);
  }
  t.equal(bad, 0, 'every id is well-formed');
  t.equal(traces.size, N, 'no trace id twice');
  t.equal(spans.size, N, 'no span id twice');
  t.equal(xorMismatch, 0, 'the sampling word is the xor of the id\'s own words');
  t.ok(sampled > 700 && sampled < 1300, `1% sampling picks about 1% (${sampled} of ${N})`);
  t.equal(traceparent('a'.repeat(32), 'b'.repeat(16), true), `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`);
});

t.test('traceparent: valid ones continue, malformed ones start a new trace', async (t) => {
  const id = '4bf92f3577b34da6a3ce929d0e0e4736', span = '00f067aa0ba902b7';
  t.match(parseTraceparent(`00-${id}-${span}-01`, 'a=b'), { traceId: id, spanId: span, sampled: true, tracestate: 'a=b' });
  t.match(parseTraceparent(` 00-${id}-${span}-00 `, undefined), { sampled: false, tracestate: null }, 'surrounding spaces are trimmed');
  t.match(parseTraceparent(`01-${id}-${span}-01-future`, undefined), { traceId: id }, 'a later version may append fields');
  for (const bad of [`00-${id}-${span}-01-extra`, `ff-${id}-${span}-01`, `00-${'0'.repeat(32)}-${span}-01`, `00-${id}-${'0'.repeat(16)}-01`, `00-${id.toUpperCase()}-${span}-01`, `00-${id}-${span}`, '', 'garbage'])
    t.equal(parseTraceparent(bad, undefined), null, `refused: "${bad}"`);
  t.match(parseTraceparent(`00-${id}-${span}-01`, `a=${'x'.repeat(600)}`), { tracestate: null }, 'an oversized tracestate is dropped');
  t.match(parseTraceparent(`00-${id}-${span}-01`, 'a=\u0001'), { tracestate: null }, 'a tracestate with control characters is dropped');
});
