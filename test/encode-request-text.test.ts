// encodeRequest takes a WebSocket text message as the string it already is (the bridge's
// JSON mode): it must give the bytes, and the errors, the same body as bytes gives.
import t from 'tap';
import { loadProtos } from '../src/transcode/proto-registry.js';
import { PROTO_DIR } from '../src/demo/catalog-service.js';
import { encodeRequest, type Mapper } from '../src/transcode/message-mapping.js';
import { JsonMappingError } from '../src/transcode/json-codec.js';

const root = loadProtos({ files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] }, '.');
const mapper = (request: string, body: string): Mapper => ({ binding: { body, responseBody: '' }, requestType: root.lookupType(request), responseType: root.lookupType('demo.catalog.v1.Book'), root });

function outcome(m: Mapper, body: Uint8Array | string): string {
  const vars = new Map(m.requestType.fields.name ? [['name', 'books/1']] : []);
  try { return Buffer.from(encodeRequest(m, vars, '', body, 'image/png')).toString('hex'); } catch (e) {
    return e instanceof JsonMappingError ? `error: ${e.message}` : `thrown: ${(e as Error).message}`;
  }
}

t.test('a text body maps exactly as its UTF-8 bytes do', async (t) => {
  const note = mapper('demo.catalog.v1.Note', '*');
  const everything = mapper('demo.catalog.v1.Everything', '*');
  const cover = mapper('demo.catalog.v1.SetCoverRequest', 'cover');
  const cases: Array<[Mapper, string]> = [
    [note, '{"text":"hé ✓ 𝄞","seq":3}'], [note, ''], [note, '{}'], [note, '{"text":'], [note, '[1]'], [note, '{"nope":1}'],
    [everything, '{"text":"x","i64":"9007199254740993","when":"2024-01-02T03:04:05Z","numbers":["1"],"counts":{"a":1}}'],
    [cover, '\u0089PNG raw ✓'], [cover, ''],
  ];
  for (const [m, text] of cases) {
    const got = outcome(m, text);
    t.equal(got, outcome(m, Buffer.from(text)), JSON.stringify(text));
    if (text === '{"text":') t.match(got, /^error: malformed JSON body/);
    else if (text === '{"nope":1}' || text === '[1]') t.match(got, /^error: /);
    else t.notMatch(got, /^(error|thrown)/, `${JSON.stringify(text)} encodes`);
  }
  t.ok(outcome(cover, 'PNG').includes(Buffer.from('image/png').toString('hex')), 'the cover went raw, with its content type');
  t.match(outcome(note, Buffer.from([0x7b, 0xff, 0x7d])), /^error: malformed JSON body: not valid UTF-8/, 'bytes are still checked');
});
