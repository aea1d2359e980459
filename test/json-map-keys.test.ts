// Maps with non-string keys through the proto3 JSON mapping, both ways, checked on the wire:
// JSON keys are the quoted numbers and booleans, "" is a valid string key. (protobufjs
// alone writes a bool key "false" as true and reads 64-bit keys as 8-byte hash strings.)
import t from 'tap';
import protobuf from 'protobufjs';
import { messageOut, toProtoObject } from '../src/transcode/json-codec.js';

const root = protobuf.parse(`syntax = "proto3";
message M {
  map<bool, string> flags = 1;
  map<int64, string> ids = 2;
  map<uint64, string> big = 3;
  map<int32, string> small = 4;
  map<sint64, string> zig = 5;
  map<string, int32> counts = 6;
}`).root;
const M = root.lookupType('M');

/** The (key, value) pairs of map field `no` as they are on the wire. */
function wireEntries(bytes: Uint8Array, no: number, signed: 'varint' | 'zigzag' = 'varint'): Array<[string, string]> {
  const r = protobuf.Reader.create(bytes);
  const out: Array<[string, string]> = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 !== no) { r.skipType(tag & 7); continue; }
    const end = r.uint32() + r.pos;
    let key = '', value = '';
    while (r.pos < end) {
      const t2 = r.uint32();
      if (t2 >>> 3 === 1) key = signed === 'zigzag' ? r.sint64().toString() : r.uint64().toString();
      else value = r.string();
    }
    out.push([key, value]);
  }
  return out;
}

t.test('JSON → proto: every key type lands on the wire as the right number or bool', async (t) => {
  const json = {
    flags: { false: 'off', true: 'on' },
    ids: { '-5': 'neg', '123': 'x' },
    big: { '18446744073709551615': 'max' },
    small: { '-7': 's' },
    zig: { '-9': 'z' },
    counts: { '': 1, a: 2 },
  };
  const bytes = M.encode(M.fromObject(toProtoObject(M, json, { root }))).finish();
  t.same(wireEntries(bytes, 1), [['0', 'off'], ['1', 'on']], 'bool keys: false is 0, true is 1');
  t.same(wireEntries(bytes, 2).map(([k, v]) => [BigInt.asIntN(64, BigInt(k)).toString(), v]).sort(), [['-5', 'neg'], ['123', 'x']]);
  t.same(wireEntries(bytes, 3), [['18446744073709551615', 'max']]);
  t.same(wireEntries(bytes, 4).map(([k, v]) => [BigInt.asIntN(64, BigInt(k)).toString(), v]), [['-7', 's']]);
  t.same(wireEntries(bytes, 5, 'zigzag'), [['-9', 'z']]);
  const back = messageOut(M, M.decode(bytes) as unknown as Record<string, unknown>, { emitDefaults: false, root });
  t.same(back, json, 'and back to the same JSON: decimal keys, "true"/"false", the empty string');
});

t.test('bad keys are 400s naming the key', async (t) => {
  t.throws(() => toProtoObject(M, { flags: { yes: 'x' } }, { root }), /flags\.yes \(key\): expected "true" or "false"/);
  t.throws(() => toProtoObject(M, { small: { '1.5': 'x' } }, { root }), /small\.1\.5 \(key\)/);
  t.throws(() => toProtoObject(M, { small: { '2147483648': 'x' } }, { root }), /out of range for int32/);
  t.throws(() => toProtoObject(M, { big: { '-1': 'x' } }, { root }), /out of range for uint64/);
});
