// Property-based fuzzing (fast-check) of everything that reads client bytes or a config:
// the header scanner, the path normaliser, the router, the HttpRule template parser, the
// config loader and the JSON⇄protobuf codec. Properties: no crash and no hang; every
// rejection is the module's own clean error; what is accepted is safe to forward.
// FUZZ_RUNS sets the inputs per property (10^4 in `npm test`, 10^6 in `npm run fuzz`).
import t from 'tap';
import fc from 'fast-check';
import { scanRequestHeaders } from '../src/proxy/request-headers.js';
import { GatewayError } from '../src/errors.js';
import { normalisePath } from '../src/router/normalise-path.js';
import { Router, type Routable } from '../src/router/router.js';
import { parseTemplate, matchTemplate, splitPath } from '../src/transcode/path-template.js';
import { validateConfig, ConfigError } from '../src/config/load.js';
import { loadProtos } from '../src/transcode/proto-registry.js';
import { JsonMappingError, toProtoObject, messageOut } from '../src/transcode/json-codec.js';
import { PROTO_DIR } from '../src/demo/catalog-service.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
const params = { numRuns: RUNS, interruptAfterTimeLimit: RUNS > 100_000 ? 3_600_000 : 60_000 };

/** Bytes as the engines hand them over: latin1 (node) or UTF-8-decoded (uWS) strings. */
const wireString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom(...'abcXYZ019 -_:;,=/\\.%\t\r\n\u0000\u007f\u00e9\u010d\u010a'), maxLength: 40 }),
);
const headerName = fc.oneof(fc.constantFrom('host', 'content-length', 'transfer-encoding', 'connection', 'x-forwarded-for', 'cookie', 'x-request-id', 'te', 'x-original-url'), wireString.map((s) => s.toLowerCase()));

t.test('header scanner: never throws; what it forwards is clean and unframed', async (t) => {
  fc.assert(fc.property(fc.array(fc.tuple(headerName, wireString), { maxLength: 12 }), fc.boolean(), (pairs, http10) => {
    const raw = pairs.flat();
    const r = scanRequestHeaders(raw, { maxHeaderBytes: 4096, maxHeaderCount: 10 }, http10);
    if (r instanceof GatewayError) return r.status === 400 || r.status === 431;
    for (let i = 0; i < r.forward.length; i += 2) {
      const name = r.forward[i]!, value = r.forward[i + 1]!;
      if (/[^!#$%&'*+\-.^_`|~0-9a-z]/.test(name) || /[^\t\x20-\x7e]/.test(value)) return false;
      if (name === 'content-length' || name === 'transfer-encoding' || name === 'connection' || name === 'x-original-url') return false;
    }
    return !(http10 && r.chunked);
  }), params);
  t.pass(`${RUNS} header lists`);
});

const pathChars = fc.string({ unit: fc.constantFrom(...'/.%2eEfF5cC61aA;\\~-_x#?\u0000 \u00e9'), maxLength: 30 }).map((s) => '/' + s);

t.test('path normaliser: never throws; output is printable, dot-free, slash-merged and idempotent', async (t) => {
  fc.assert(fc.property(fc.oneof(pathChars, wireString.map((s) => '/' + s)), fc.boolean(), (raw, merge) => {
    const r = normalisePath(raw, merge);
    if (!r.ok) return typeof r.reason === 'string' && r.reason.length > 0;
    const p = r.path;
    if (!p.startsWith('/') || /[^\x21-\x7e]/.test(p)) return false;
    if (/\/\.\.?(\/|$)/.test(p)) return false;
    if (merge && p.includes('//')) return false;
    if (/%(2[dDeE]|5[fF]|7[eE]|[46][1-9a-fA-F]|[57][0-9aA]|3[0-9])/.test(p)) return false; // unreserved escapes are decoded
    // A flag can only go away (a "\\" segment removed by ".."), never appear.
    const again = normalisePath(p, merge);
    return again.ok && again.path === p && (again.flags & ~r.flags) === 0;
  }), { ...params, examples: [['/\\/..', false]] });
  t.pass(`${RUNS} paths`);
});

interface R extends Routable { name: string }
const route = (name: string, methods: readonly string[] | null): R => ({ name, methods: methods ? new Set(methods) : null, headerPredicates: [], queryPredicates: [], paramNames: [] });

t.test('router: any request path against any route set: a result, never a throw', async (t) => {
  const segment = fc.constantFrom('a', 'b', ':id', ':x', '*', 'v1', '');
  const pattern = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => '/' + s.join('/')).filter((p) => !/\*./.test(p) && !/:(\w+).*:\1\b/.test(p));
  fc.assert(fc.property(
    fc.array(fc.tuple(pattern, fc.option(fc.constantFrom(['GET'], ['POST'], ['GET', 'PUT']))), { minLength: 1, maxLength: 8 }),
    fc.oneof(pathChars, fc.array(fc.constantFrom('a', 'b', 'v1', 'x', '', '%2F'), { maxLength: 6 }).map((s) => '/' + s.join('/'))),
    fc.constantFrom('GET', 'POST', 'DELETE'),
    (specs, path, method) => {
      const router = new Router(specs.map(([p, m], i) => ({ route: route(`r${i}`, m), hosts: null, path: p })));
      const m = router.match({ method, host: '', path, header: () => undefined, queryParam: () => undefined });
      if (m.kind === 'route') return m.route.methods === null || m.route.methods.has(method);
      if (m.kind === 'method-not-allowed') return m.allow.length > 0 && !m.allow.includes(method);
      return m.kind === 'not-found';
    },
  ), params);
  t.pass('route sets and paths');
});

t.test('HttpRule templates: parse or a clean error; matching never throws', async (t) => {
  const tplChars = fc.string({ unit: fc.constantFrom(...'/{}=*:.ab_1v%'), maxLength: 24 }).map((s) => '/' + s);
  fc.assert(fc.property(fc.oneof(tplChars, wireString), fc.oneof(pathChars, wireString), (source, path) => {
    let tpl;
    try { tpl = parseTemplate(source); } catch (e) { return e instanceof Error && !(e instanceof TypeError) && !(e instanceof RangeError); }
    const m = matchTemplate(tpl, splitPath(path));
    return m === null || m instanceof Map;
  }), params);
  t.pass(`${RUNS} templates`);
});

t.test('config loader: any JSON value is a config or a ConfigError listing problems', async (t) => {
  const key = fc.constantFrom('routes', 'upstreams', 'listen', 'limits', 'admin', 'auth', 'match', 'prefix', 'path', 'upstream', 'targets', 'url', 'port', 'host', 'tls', 'rateLimit', 'key', 'rate', 'x');
  const value = fc.letrec((tie) => ({
    v: fc.oneof({ depthSize: 'small' }, fc.constantFrom(null, true, 0, -1, 70000, '', '/', 'http://127.0.0.1:1', 'up', '/etc/passwd'), fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(key, tie('v'), { maxKeys: 4 })),
  })).v;
  fc.assert(fc.property(fc.oneof(value, fc.dictionary(key, value, { maxKeys: 6 })), (raw) => {
    try { validateConfig(raw); return true; } catch (e) { return e instanceof ConfigError && e.problems.length > 0 && e.problems.every((p) => typeof p === 'string'); }
  }), params);
  t.pass('configs');
});

t.test('JSON ⇄ protobuf codec: any JSON into any demo message is a message or a JsonMappingError', async (t) => {
  const root = loadProtos({ files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] }, PROTO_DIR);
  const types = ['demo.catalog.v1.Everything', 'demo.catalog.v1.Book', 'demo.catalog.v1.CreateBookRequest', 'google.protobuf.Struct', 'google.protobuf.Timestamp', 'google.protobuf.Any'].map((n) => root.lookupType(n));
  const fieldKey = fc.constantFrom('title', 'name', 'book', 'int64Value', 'int64_value', 'doubleValue', 'bytesValue', 'enumValue', 'timestamp', 'duration', 'any', '@type', 'value', 'mapValue', 'repeated', 'nested', 'child', 'x', 'seconds');
  const json = fc.letrec((tie) => ({
    v: fc.oneof({ depthSize: 'small' }, fc.jsonValue({ maxDepth: 1 }), fc.constantFrom('NaN', 'Infinity', '1e400', '9007199254740993', '2024-01-01T00:00:00Z', '1.5s', 'AQID', 'type.googleapis.com/demo.catalog.v1.Book', '\ud800'), fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(fieldKey, tie('v'), { maxKeys: 4 })),
  })).v;
  fc.assert(fc.property(fc.nat(types.length - 1), json, (ti, value) => {
    const type = types[ti]!;
    let obj;
    try { obj = toProtoObject(type, value, { root }); } catch (e) { return e instanceof JsonMappingError; }
    // what was accepted encodes, decodes and maps back to JSON
    const bytes = type.encode(type.fromObject(obj)).finish();
    JSON.stringify(messageOut(type, type.decode(bytes) as unknown as Record<string, unknown>, { emitDefaults: false, root }));
    return true;
  }), { ...params, examples: [[5, { '@type': '' }], [5, { '@type': 'type.googleapis.com/demo' }]] }); // found by a 10^6 run: Any with an empty or package type URL
  t.pass('JSON values');
});
