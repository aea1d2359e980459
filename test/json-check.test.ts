// isJsonObject (src/aggregate/json-check.ts) against JSON.parse: it never accepts what
// JSON.parse refuses or what is not an object, and it accepts the JSON objects
// JSON.stringify writes (else the composition's splice would never be taken).
import t from 'tap';
import fc from 'fast-check';
import { isJsonObject } from '../src/aggregate/json-check.js';

const parsesToObject = (s: string): boolean => {
  try { const v = JSON.parse(s) as unknown; return v !== null && typeof v === 'object' && !Array.isArray(v); } catch { return false; }
};
const check = (s: string) => isJsonObject(Buffer.from(s, 'utf8'));

t.test('hand-picked cases', async (t) => {
  const yes = ['{}', ' {} ', '{"a":1}', '{"a":[1,2,{"b":null}],"c":"\\u00e9\\n","d":-0.5e+3,"e":true,"f":false}', '\t{\r\n"a" : [ ] }\n', '{"a":{"b":{"c":[[],[{}]]}}}', '{"__proto__":1}', '{"a":1,"a":2}'];
  const no = ['', '[]', '"x"', '1', 'null', '{', '}', '{"a"}', '{"a":}', '{"a":1,}', '{,}', '{"a":1}x', '{"a":1}{}', '{a:1}', "{'a':1}", '{"a":01}', '{"a":1.}', '{"a":.5}', '{"a":1e}', '{"a":-}', '{"a":+1}',
    '{"a":NaN}', '{"a":Infinity}', '{"a":tru}', '{"a":nul}', '{"a":"\\x"}', '{"a":"\\u12"}', '{"a":"\u0001"}', '{"a":"unterminated}', '{"a":[1,]}', '{"a":[,1]}', '{"a":[1 2]}', '{"a":1 "b":2}', '\uFEFF{}', '{"a":1}]', '{"a":[}', '{"a":{]}'];
  for (const s of yes) t.ok(check(s), `yes: ${JSON.stringify(s)}`);
  for (const s of no) t.notOk(check(s), `no: ${JSON.stringify(s)}`);
  for (const s of [...yes, ...no]) if (check(s)) t.ok(parsesToObject(s), `JSON.parse agrees: ${JSON.stringify(s)}`);
});

t.test('every object JSON.stringify writes is accepted', async (t) => {
  fc.assert(fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (o) => check(JSON.stringify(o)) && check(JSON.stringify(o, null, 2))), { numRuns: 2000 });
  t.pass('2,000 objects, compact and indented');
});

t.test('never accepts what JSON.parse refuses or what is not an object', async (t) => {
  // Mutations of valid JSON (a byte changed, dropped or added) and arbitrary text
  const mutated = fc.tuple(fc.json(), fc.nat(), fc.constantFrom('del', 'set', 'ins'), fc.constantFrom(...'{}[]",:0123456789.eE+-tfn\\u x\u0000\u00e9 '.split('')))
    .map(([s, at, op, ch]) => {
      const k = s.length ? at % s.length : 0;
      return op === 'del' ? s.slice(0, k) + s.slice(k + 1) : op === 'set' ? s.slice(0, k) + ch + s.slice(k + 1) : s.slice(0, k) + ch + s.slice(k);
    });
  fc.assert(fc.property(fc.oneof(mutated, fc.string(), fc.json()), (s) => !check(s) || parsesToObject(s)), { numRuns: 20000 });
  t.pass('20,000 strings');
});
