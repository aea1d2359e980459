import t from 'tap';
import { loadProblems } from '../../pipeline/test-env.js';

const cfg = (auth: string) => `
auth: { t: ${auth} }
upstreams: { a: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes: [ { match: { prefix: / }, upstream: a, auth: [t] } ]`;

t.test('keys are checked at load: a source, one kind per key, one for every algorithm', async (t) => {
  t.same(loadProblems(cfg('{ type: jwt, algorithms: [HS256] }')), ['auth.t: give keys or jwksUrl', 'auth.t.algorithms[0]: HS256 needs a secret in auth.t.keys']);
  t.same(loadProblems(cfg('{ type: jwt, algorithms: [RS256], keys: [ { secret: "0123456789abcdef0123456789abcdef", publicKey: x } ] }')), ['auth.t.keys[0]: give exactly one of secret, publicKey, publicKeyFile, jwk']);
  t.match(loadProblems(cfg('{ type: jwt, algorithms: [HS256], keys: [ { secret: short } ] }')), [/auth\.t\.keys\[0\]\.secret: must NOT have fewer than 32 characters/]);
  t.same(loadProblems(cfg('{ type: jwt, algorithms: [HS256], keys: [ { secret: "0123456789abcdef0123456789abcdef" } ] }')), [], 'a valid one');
});
