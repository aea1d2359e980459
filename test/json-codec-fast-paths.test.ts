// The JSON mapping's shortcuts hold to the slow paths they replace: request objects go to
// protobufjs' encoder without a fromObject copy (safe 64-bit integers as plain numbers,
// timestamps' seconds as numbers), 64-bit answers print without Long.toString when they
// fit in 2^53, and each type's fields are worked out once. Every case is read back from the
// wire with protobufjs' own decoder, or compared with Long's own printing.
import t from 'tap';
import Long from 'long';
import { encodeRequest, decodeResponse, type Mapper } from '../src/transcode/message-mapping.js';
import { toProtoObject } from '../src/transcode/json-codec.js';
import { loadProtos } from '../src/transcode/proto-registry.js';
import { PROTO_DIR } from '../src/demo/catalog-service.js';

const root = loadProtos({ files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] }, '/');
const Everything = root.lookupType('demo.catalog.v1.Everything');
const ListBooks = root.lookupType('demo.catalog.v1.ListBooksRequest');
const everything: Mapper = { binding: { body: '*', responseBody: '' }, requestType: Everything, responseType: Everything, root };
const listBooks: Mapper = { binding: { body: '', responseBody: '' }, requestType: ListBooks, responseType: ListBooks, root };

const encodeJson = (json: unknown) => encodeRequest(everything, new Map(), '', Buffer.from(JSON.stringify(json)));
/** field values as protobufjs reads them off the wire, 64-bit ones as decimal strings */
const wire = (bytes: Uint8Array) => Everything.toObject(Everything.decode(bytes), { longs: String, enums: String });

t.test('64-bit integers: the 2^53 edge, both signs, as numbers and strings, exact on the wire', async (t) => {
  const cases: Array<[string, unknown, string]> = [
    ['i64', '9007199254740991', '9007199254740991'], // 16 digits, the largest safe
    ['i64', '9007199254740992', '9007199254740992'], // 2^53: not safe, goes the exact way
    ['i64', '9007199254740993', '9007199254740993'], // 2^53 + 1 would round as a double
    ['i64', '-9007199254740993', '-9007199254740993'],
    ['i64', '-9223372036854775808', '-9223372036854775808'],
    ['i64', 9007199254740991, '9007199254740991'],
    ['i64', -42, '-42'],
    ['i64', '0000000000000007', '7'],
    ['u64', '18446744073709551615', '18446744073709551615'],
    ['u64', '9007199254740991', '9007199254740991'],
    ['f64', '4294967296', '4294967296'],
  ];
  for (const [field, value, want] of cases) {
    t.equal(String(wire(encodeJson({ [field]: value }))[field]), want, `${field} ${JSON.stringify(value)} on the wire`);
  }
  t.equal(wire(encodeJson({ numbers: ['1', -2, '9007199254740993'] })).numbers.join(','), '1,-2,9007199254740993', 'repeated int64');
  t.throws(() => encodeJson({ u64: '-1' }), /out of range for uint64/, 'a negative uint64 is still refused');
  t.throws(() => encodeJson({ u64: -1 }), /out of range for uint64/);
  t.throws(() => encodeJson({ i64: 9007199254740993 }), /loses precision/, 'a JSON number beyond 2^53 is still refused');
});

t.test('64-bit integers print exactly on the way out, within 2^53 and beyond', async (t) => {
  const values: Array<[string, Long]> = [
    ['i64', Long.fromString('9007199254740991')], ['i64', Long.fromString('9007199254740992')],
    ['i64', Long.fromString('-9007199254740991')], ['i64', Long.fromString('-9007199254740993')],
    ['i64', Long.fromString('-1')], ['i64', Long.MIN_VALUE], ['i64', Long.MAX_VALUE],
    ['u64', Long.MAX_UNSIGNED_VALUE], ['u64', Long.fromString('4294967296', true)], ['f64', Long.fromString('18446744073709551614', true)],
  ];
  for (const [field, v] of values) {
    const bytes = Everything.encode({ [field]: v }).finish();
    const json = JSON.parse(decodeResponse(everything, bytes, { emitDefaults: false }));
    t.equal(json[field], v.toString(), `${field} ${v.toString()}`);
  }
  const bytes = Everything.encode({ numbers: [Long.fromNumber(-5), Long.fromString('9007199254740993')] }).finish();
  t.same(JSON.parse(decodeResponse(everything, bytes, { emitDefaults: false })).numbers, ['-5', '9007199254740993']);
});

t.test('timestamps and durations: seconds as numbers, long durations as Long, both exact', async (t) => {
  const w = wire(encodeJson({ when: '2024-01-02T03:04:05.5Z', took: '-1.25s' }));
  t.same(w.when, { seconds: '1704164645', nanos: 500000000 });
  t.same(w.took, { seconds: '-1', nanos: -250000000 });
  t.same(wire(encodeJson({ took: '315576000000.000000001s' })).took, { seconds: '315576000000', nanos: 1 }, 'the longest duration the mapping allows');
  t.same(wire(encodeJson({ took: '1234567890123456789s' })).took.seconds, '1234567890123456789', 'a 19-digit duration keeps every digit');
  t.same(wire(encodeJson({ when: '1969-12-31T23:59:59Z' })).when, { seconds: '-1', nanos: 0 }, 'before 1970');
  // out: whole seconds, then the fraction the mapping asks for
  const out = (seconds: Long | number, nanos: number) => JSON.parse(decodeResponse(everything, Everything.encode({ when: { seconds, nanos } }).finish(), { emitDefaults: false })).when;
  t.equal(out(1704164645, 0), '2024-01-02T03:04:05Z');
  t.equal(out(Long.fromNumber(1704164645), 120000000), '2024-01-02T03:04:05.120Z');
  t.equal(out(-1, 1000), '1969-12-31T23:59:59.000001Z');
  t.equal(out(253402300799, 999999999), '9999-12-31T23:59:59.999999999Z');
});

t.test('enum values: own names and numbers only', async (t) => {
  const q = (genre: string) => ListBooks.decode(encodeRequest(listBooks, new Map(), `genre=${genre}`, null)) as unknown as { genre: number };
  t.equal(q('2').genre, 2, 'a number in a query parameter');
  t.equal(q('SCIENCE').genre, 2, 'a name in a query parameter');
  t.equal(q('7').genre, 7, 'an unknown number passes (open enums)');
  for (const name of ['toString', '__proto__', 'constructor', 'hasOwnProperty']) {
    t.throws(() => toProtoObject(ListBooks, { genre: name }, { root }), /is not a value of enum Genre/, `"${name}" (Object.prototype's) is not a value`);
  }
  t.equal(wire(encodeJson({ genre: 'FICTION' })).genre, 'FICTION');
});

t.test('emitDefaults, oneofs, wrappers and Any print as before', async (t) => {
  const bytes = Everything.encode({ right: 0, wrapped_int: { value: Long.fromNumber(0) }, wrapped_str: {}, wrapped_bytes: { value: Buffer.from([0, 1]) },
    any: { type_url: 'type.googleapis.com/google.protobuf.Duration', value: root.lookupType('google.protobuf.Duration').encode({ seconds: 3 }).finish() } }).finish();
  const json = JSON.parse(decodeResponse(everything, bytes, { emitDefaults: false }));
  t.same(json, { right: 0, wrappedInt: '0', wrappedStr: '', wrappedBytes: 'AAE=', any: { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '3s' } }, 'a oneof member set to its default is printed; wrappers unwrap');
  const all = JSON.parse(decodeResponse(everything, Everything.encode({}).finish(), { emitDefaults: true }));
  t.same([all.i64, all.genre, all.numbers, all.counts, all.nested, all.flag, all.data, all.customName], ['0', 'GENRE_UNSPECIFIED', [], {}, null, false, '', ''], 'defaults when asked');
  t.notOk('left' in all || 'right' in all, 'an unset oneof is not printed, even with emitDefaults');
  const ints = JSON.parse(decodeResponse(everything, Everything.encode({}).finish(), { emitDefaults: true, enumsAsInts: true, useProtoNames: true }));
  t.same([ints.genre, ints.renamed, ints.wrapped_int], [0, '', null], 'enum default as a number, proto names');
  // each call gets its own default containers
  const a = JSON.parse(decodeResponse(everything, Everything.encode({}).finish(), { emitDefaults: true }));
  t.same(a.numbers, [], 'a fresh empty list each time');
});

t.test('a request object is what protobufjs would encode after fromObject', async (t) => {
  const json = { text: 'x', i32: -5, i64: '12', u64: '18446744073709551615', dbl: 'NaN', flag: true, data: 'aGk=', genre: 'SCIENCE', numbers: ['1'], counts: { a: 1 },
    nested: { value: 'n' }, when: '2024-01-02T03:04:05Z', took: '1.5s', mask: 'a.b,c', meta: { k: [1, 'x', null] }, value: null, wrappedInt: '3', any: { '@type': 'type.googleapis.com/demo.catalog.v1.Nested', value: 'in' },
    items: [{ value: 'i' }], left: 'l', byId: { '-1': 'neg' }, byFlag: { false: 'f', true: 't' } };
  const plain = toProtoObject(Everything, json, { root });
  const viaFromObject = Everything.encode(Everything.fromObject(plain)).finish();
  t.same(Buffer.from(encodeJson(json)), Buffer.from(viaFromObject), 'the same bytes as the fromObject route');
});
