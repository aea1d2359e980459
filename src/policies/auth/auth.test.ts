import t from 'tap';
import { authPolicy } from './index.js';
import { AUTHENTICATORS } from '../registry.js';
import { RouteAuth } from './route-auth.js';
import { ConsumerRegistry } from './consumers.js';
import { ApiKeyAuthenticator } from '../auth-api-key/api-key-auth.js';
import { compileEnvFor, loadProblems } from '../../pipeline/test-env.js';
import type { RequestHead } from '../../server/types.js';

const head = (headers: Record<string, string>, query = ''): RequestHead => ({ method: 'GET', path: '/', query, rawHeaders: Object.entries(headers).flat(), remoteAddress: '127.0.0.1', scheme: 'http', http10: false });

t.test('the first authenticator that identifies wins; invalid beats missing', async (t) => {
  const consumers = new ConsumerRegistry([{ id: 'app', groups: [], keys: [{ key: 'app-key-123456' }] }]);
  const header = new ApiKeyAuthenticator({ type: 'api-key', header: 'x-api-key', hideCredentials: true }, consumers);
  const query = new ApiKeyAuthenticator({ type: 'api-key', header: 'x-other', query: 'key', hideCredentials: true }, consumers);
  const auth = new RouteAuth(['h', 'q'], new Map([['h', header], ['q', query]]));
  const q = (s: string) => () => new URLSearchParams(s);
  const ok = auth.check(head({ 'x-api-key': 'app-key-123456' }), q(''));
  t.match(ok, { kind: 'ok', identity: { consumer: { id: 'app' } } });
  t.match(auth.check(head({}, 'key=app-key-123456'), q('key=app-key-123456')), { kind: 'ok' }, 'the second one');
  t.match(auth.check(head({ 'x-api-key': 'wrong-key-0000' }), q('')), { kind: 'invalid', reason: 'unknown API key' });
  t.match(auth.check(head({}), q('')), { kind: 'missing' });
  t.same([...auth.hideQuery!], ['key'], 'query credentials are hidden from the upstream');
});

t.test('consumers and authenticators are built once per table; routes without auth compile nothing', async (t) => {
  const env = compileEnvFor(`
consumers: [ { id: app, keys: [ { key: app-key-123456 } ] } ]
auth: { keys: { type: api-key } }
upstreams: { a: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes: [ { match: { prefix: /x }, upstream: a, auth: [keys] }, { match: { prefix: /y }, upstream: a } ]`);
  const factory = authPolicy(AUTHENTICATORS);
  t.ok(Object.isFrozen(factory.compile(env.config.routes[0]!, 'x', env)));
  t.equal(factory.compile(env.config.routes[1]!, 'y', env), null);
  t.ok(env.tableState.get('auth.consumers'), 'the registry is in the table state');
});

t.test('duplicate consumers and keys, unknown authenticators: problems with paths', async (t) => {
  t.same(loadProblems(`
consumers: [ { id: a, keys: [ { key: same-key-1234 } ] }, { id: a, keys: [ { key: same-key-1234 } ] } ]
upstreams: { a: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes: [ { match: { prefix: / }, upstream: a, auth: [nope] } ]`), [
    'consumers[1].id: duplicate consumer "a"',
    'consumers[1].keys[0]: the same key is already given to "a"',
    'routes[0].auth[0]: unknown authenticator "nope"',
  ]);
});

t.test('API keys: plain and pre-hashed keys find their consumer, anything else does not', async (t) => {
  const { createHash } = await import('node:crypto');
  const { sha256Hex } = await import('./consumers.js');
  const hashed = createHash('sha256').update('pre-hashed-key-99').digest('hex').toUpperCase();
  const consumers = new ConsumerRegistry([
    { id: 'plain', groups: [], keys: [{ key: 'app-key-123456' }, { key: 'clé-ünïcode-ключ' }] },
    { id: 'hashed', groups: [], keys: [{ sha256: hashed }] },
  ]);
  t.equal(consumers.byKey('app-key-123456')?.id, 'plain');
  t.equal(consumers.byKey('clé-ünïcode-ключ')?.id, 'plain', 'a non-ASCII key hashes as its UTF-8, as at load');
  t.equal(consumers.byKey('pre-hashed-key-99')?.id, 'hashed', 'a sha256 given in upper case');
  for (const bad of ['app-key-12345', 'app-key-1234567', 'APP-KEY-123456', '', hashed, hashed.toLowerCase(), 'toString', '__proto__']) {
    t.equal(consumers.byKey(bad), null, `unknown: ${JSON.stringify(bad)}`);
  }
  for (const s of ['', 'a', 'clé-ünïcode-ключ', 'x'.repeat(10_000), '\ud800']) {
    t.equal(sha256Hex(s), createHash('sha256').update(s).digest('hex'), `sha256Hex of ${s.length} characters is createHash's`);
  }
});
