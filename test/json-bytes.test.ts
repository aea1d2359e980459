// Response JSON written as bytes (json-bytes.ts) must be byte for byte what JSON.stringify
// gives, whatever the strings hold and wherever in a word an escape falls; and the whole
// response path (decodeResponse on real protobuf bytes) must agree with the plain one.
import t from 'tap';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { firstEscape, jsonOf, LongString, LONG_STRING } from '../src/transcode/json-bytes.js';
import { decodeResponse } from '../src/transcode/message-mapping.js';

const text = (v: string | Buffer) => (typeof v === 'string' ? v : v.toString('utf8'));

t.test('firstEscape finds the first byte JSON escapes, at every offset and alignment', async (t) => {
  for (const bad of [0x00, 0x0a, 0x1f, 0x22, 0x5c]) {
    for (let len = 0; len < 40; len++) {
      for (let at = -1; at < len; at++) {
        const b = Buffer.alloc(len + 3, 0x61).subarray(len % 3); // unaligned views too
        if (at >= 0) b[at] = bad;
        const got = firstEscape(b, 0, len);
        if (got !== (at >= 0 && at < len ? at : -1)) t.fail(`byte ${bad} at ${at} of ${len}: got ${got}`);
      }
    }
  }
  // bytes that look close but need no escape: 0x20, 0x7f, UTF-8 continuation bytes, 0x21, 0x23, 0x5b, 0x5d
  t.equal(firstEscape(Buffer.from([0x20, 0x7f, 0xc3, 0xa9, 0x21, 0x23, 0x5b, 0x5d, 0xff, 0x80]), 0, 10), -1);
  t.equal(firstEscape(Buffer.from('ab"cd'), 3, 5), -1, 'only the range given is looked at');
});

t.test('jsonOf equals JSON.stringify (property-based, long strings included)', async (t) => {
  const long = fc.tuple(fc.string({ unit: fc.constantFrom('a', 'é', '€', '😀', '"', '\\', '\n', '\u0001', ' ', '\u007f'), maxLength: 30 }), fc.nat({ max: 3 }))
    .map(([s, pad]) => new LongString('x'.repeat(LONG_STRING + pad) + s));
  const leaf = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), long);
  const value = fc.letrec((tie) => ({
    node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 6 }), tie('node'), { maxKeys: 4 })),
  })).node;
  fc.assert(fc.property(value, (v) => {
    const want = JSON.stringify(v);
    return text(jsonOf(v, true)) === want && text(jsonOf(v, false)) === want;
  }), { numRuns: 300 });
  t.pass('300 random values');
});

t.test('a clean long string comes back as bytes with an ArrayBuffer of its own; one to escape falls back to the text', async (t) => {
  const clean = jsonOf({ a: 1, s: new LongString('é'.repeat(LONG_STRING)), b: [true] }, true);
  t.ok(Buffer.isBuffer(clean), 'bytes');
  const buf = clean as Buffer;
  t.equal(buf.byteOffset, 0);
  t.equal(buf.buffer.byteLength, buf.byteLength, 'its own ArrayBuffer (moved, not copied)');
  const dirty = jsonOf({ s: new LongString('a'.repeat(LONG_STRING) + '\n') }, true);
  t.equal(typeof dirty, 'string', 'a newline in it: JSON.stringify');
  t.equal(dirty, JSON.stringify({ s: 'a'.repeat(LONG_STRING) + '\n' }));
});

t.test('decodeResponse as bytes agrees with the text path on real messages', async (t) => {
  const root = new protobuf.Root();
  protobuf.parse(`syntax = "proto3"; package google.protobuf; message StringValue { string value = 1; }`, root, { keepCase: true });
  protobuf.parse(`syntax = "proto3";
message Doc {
  string title = 1; string body = 2; bytes blob = 3; repeated string lines = 4;
  map<string, string> attrs = 5; .google.protobuf.StringValue note = 6; Inner inner = 7;
}
message Inner { string text = 1; }`, root, { keepCase: true });
  root.resolveAll();
  const Doc = root.lookupType('Doc');
  const m = { binding: { body: '*', responseBody: '' }, requestType: Doc, responseType: Doc, root };
  const big = (c: string) => c.repeat(LONG_STRING + 7);
  const cases: Array<Record<string, unknown>> = [
    { title: 't', body: big('x') },
    { body: big('ü') + '"quoted"', lines: [big('y'), 'short'] },
    { blob: Buffer.alloc(LONG_STRING * 2, 7), attrs: { k: big('z') }, note: { value: big('n') }, inner: { text: big('€') } },
    { body: 'short only' },
  ];
  for (const c of cases) {
    const bytes = Doc.encode(Doc.fromObject(c)).finish();
    const plain = decodeResponse(m, bytes, { emitDefaults: false });
    const fast = decodeResponse(m, bytes, { emitDefaults: false }, true);
    t.equal(text(fast), plain, `same JSON (${Object.keys(c).join(', ')})`);
    t.same(JSON.parse(text(fast)), JSON.parse(plain));
  }
  const withBody = { ...m, binding: { body: '*', responseBody: 'body' } };
  const bytes = Doc.encode(Doc.fromObject({ body: big('q') })).finish();
  t.equal(text(decodeResponse(withBody, bytes, { emitDefaults: false }, true)), JSON.stringify(big('q')), 'response_body naming a long string field');
});
