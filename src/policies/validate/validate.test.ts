import t from 'tap';
import { validatePolicy } from './index.js';
import { RequestValidator, compileUserSchema, isJson } from './request-validation.js';
import { compileEnvFor, loadProblems } from '../../pipeline/test-env.js';

t.test('violations by JSON pointer; query values coerced; JSON content types', async (t) => {
  const v = new RequestValidator({ body: { type: 'object', required: ['a'], properties: { a: { type: 'integer' } }, additionalProperties: false }, query: { type: 'object', properties: { n: { type: 'integer' } } } });
  t.same(v.checkBody({ a: 'x', b: 1 }).map((x) => x.pointer).sort(), ['/a', '/b']);
  t.same(v.checkBody({ a: 1 }), []);
  t.same(v.checkHead(new URLSearchParams('n=12'), []), [], '"12" is an integer in a query');
  t.equal(v.checkHead(new URLSearchParams('n=x'), []).length, 1);
  t.ok(isJson('application/problem+json; charset=utf-8'));
  t.notOk(isJson('text/plain'));
});

t.test('a schema is compiled once: the load check and the table share it', async (t) => {
  const env = compileEnvFor(`
upstreams: { a: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes: [ { match: { prefix: / }, upstream: a, validate: { body: { type: object } } } ]`);
  const schema = env.config.routes[0]!.validate!.body!;
  t.equal(compileUserSchema(schema, false), compileUserSchema(schema, false), 'the same compiled function');
  t.ok(Object.isFrozen(validatePolicy.compile(env.config.routes[0]!, 'r', env)));
  t.match(loadProblems(`
upstreams: { a: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes: [ { match: { prefix: / }, upstream: a, validate: { query: { type: nope } } } ]`), [/routes\[0\]\.validate\.query: invalid JSON Schema/]);
});
