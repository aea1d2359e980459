// Request validation: JSON body (schema from a file via $ref), query and headers; 400 with
// every violation by JSON pointer, 415 for non-JSON bodies; valid requests pass intact.
import t from 'tap';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { startUpstream } from './helpers/upstream.js';
import { request, rawExchange, statusOf, bodyOf } from './helpers/client.js';
import { parseConfig, ConfigError } from '../src/config/load.js';

const fixture = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'user.schema.json');

for (const engine of ENGINES) {
  t.test(`${engine} engine`, async (t) => {
    const up = await startUpstream();
    const gw = await startGatewayProcess({
      upstreams: { up: { targets: [{ url: up.url }] } },
      routes: [{
        name: 'users', match: { path: '/users', methods: ['POST'] }, upstream: 'up',
        validate: {
          body: { $ref: fixture },
          query: { type: 'object', properties: { dryRun: { type: 'boolean' }, tags: { type: 'array', items: { type: 'string' } } }, additionalProperties: false },
          headers: { type: 'object', required: ['x-client'], properties: { 'x-client': { type: 'string', minLength: 3 } } },
        },
      }],
    }, engine);
    t.teardown(async () => { await gw.stop(); await up.close(); });

    const post = (body: string, headers: Record<string, string> = {}, q = '') =>
      request(`${gw.url}/users${q}`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-client': 'web', ...headers } });

    await t.test('a valid request passes, body intact', async (t) => {
      const before = up.seen.length;
      const r = await post('{"name":"Ada","email":"ada@example.com","age":36}', {}, '?dryRun=true&tags=a&tags=b');
      t.equal(r.status, 200);
      t.equal(up.seen.length, before + 1);
      t.equal(up.seen.at(-1)!.body.toString(), '{"name":"Ada","email":"ada@example.com","age":36}');
    });

    await t.test('violations: 400 listing every problem by JSON pointer; nothing forwarded', async (t) => {
      const before = up.seen.length;
      const r = await post('{"email":"nope","age":-1,"extra":1}');
      t.equal(r.status, 400);
      t.equal(r.json.error.code, 'bad_request');
      const pointers = r.json.error.details.map((d: { in: string; pointer: string }) => `${d.in}:${d.pointer}`).sort();
      t.same(pointers, ['body:/age', 'body:/email', 'body:/extra', 'body:/name']);
      const q = await post('{"name":"a","email":"a@b"}', {}, '?dryRun=maybe&other=1');
      t.equal(q.status, 400);
      t.same(q.json.error.details.map((d: { in: string; pointer: string }) => `${d.in}:${d.pointer}`).sort(), ['query:/dryRun', 'query:/other']);
      const h = await post('{"name":"a","email":"a@b"}', { 'x-client': 'x' });
      t.equal(h.status, 400);
      t.same(h.json.error.details.map((d: { pointer: string }) => d.pointer), ['/x-client']);
      const malformed = await post('{"name":');
      t.equal(malformed.status, 400);
      t.match(malformed.json.error.details[0].message, /^malformed JSON/);
      t.equal(up.seen.length, before, 'no invalid request reached the upstream');
    });

    await t.test('non-JSON body: 415; missing body: 400; chunked JSON works', async (t) => {
      const text = await post('name=Ada', { 'content-type': 'application/x-www-form-urlencoded' });
      t.equal(text.status, 415);
      t.equal(text.json.error.code, 'unsupported_media_type');
      const empty = await request(`${gw.url}/users`, { method: 'POST', headers: { 'x-client': 'web' } });
      t.equal(empty.status, 400);
      const body = '{"name":"Bo","email":"bo@example.com"}';
      const chunked = await rawExchange(gw.port, `POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Client: web\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`, 2000);
      t.equal(statusOf(chunked.text), 200, JSON.stringify(bodyOf(chunked.text)));
      t.equal(up.seen.at(-1)!.body.toString(), body);
      t.equal(up.seen.at(-1)!.headers['content-length'], String(body.length), 'sent with its exact length');
    });
  });
}

t.test('a relative $ref is read next to the config file', async (t) => {
  const cfg = parseConfig(`
upstreams: { a: { targets: [ { url: "http://127.0.0.1:1" } ] } }
routes: [ { match: { prefix: / }, upstream: a, validate: { body: { $ref: user.schema.json } } } ]
`, 'test', dirname(fixture));
  t.equal((cfg.routes[0]!.validate!.body as { type: string }).type, 'object');
});

t.test('schema problems are config errors with their path', async (t) => {
  try {
    parseConfig(`
upstreams: { a: { targets: [ { url: "http://127.0.0.1:1" } ] } }
routes:
  - match: { prefix: / }
    upstream: a
    validate: { body: { $ref: no/such.json }, query: { type: nonsense } }
`);
    t.fail('should throw');
  } catch (e) {
    const p = (e as ConfigError).problems;
    t.ok(p.includes('routes[0].validate.body.$ref: cannot read "no/such.json": ENOENT'), JSON.stringify(p));
    t.ok(p.some((x) => x.startsWith('routes[0].validate.query: invalid JSON Schema:')), JSON.stringify(p));
  }
});
