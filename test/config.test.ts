import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, ConfigError } from '../src/config/load.js';
import { CLI } from './helpers/gateway-process.js';

function problems(text: string): string[] {
  try {
    parseConfig(text);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

t.test('a minimal config gets safe defaults', async (t) => {
  const cfg = parseConfig(`
upstreams: { a: { targets: [ { url: "http://127.0.0.1:1" } ] } }
routes: [ { match: { path: /x }, upstream: a } ]
`);
  t.equal(cfg.engine, 'uws');
  t.same(cfg.listen, { host: '0.0.0.0', port: 8080 });
  t.same(cfg.admin, { enabled: true, host: '127.0.0.1', port: 9901 });
  t.equal(cfg.limits.maxHeaderBytes, 16384);
  t.equal(cfg.upstreams.a!.targets[0]!.weight, 1);
  t.equal(cfg.routes[0]!.preserveHost, false);
});

t.test('JSON is accepted as well as YAML', async (t) => {
  const cfg = parseConfig(JSON.stringify({ upstreams: { a: { targets: [{ url: 'http://127.0.0.1:1' }] } }, routes: [{ match: { prefix: '/' }, upstream: 'a' }] }));
  t.equal(cfg.routes.length, 1);
});

t.test('every problem is listed with its path', async (t) => {
  const list = problems(`
engine: fast
listen: { port: 70000, bogus: 1 }
upstreams:
  empty: { targets: [] }
routes:
  - match: { path: /a, color: red }
    upstream: nowhere
`);
  const expected = [
    'engine: must be one of "uws", "node"',
    'listen: unknown key "bogus"',
    'listen.port: must be <= 65535',
    'upstreams.empty.targets: must NOT have fewer than 1 items',
    'routes[0].match: unknown key "color"',
    // the route's upstream is judged too: a schema error elsewhere hides nothing
    'routes[0].upstream: unknown upstream "nowhere"',
  ];
  for (const e of expected) t.ok(list.includes(e), `lists: ${e}\n got: ${JSON.stringify(list)}`);
  t.equal(list.length, expected.length, 'schema and semantic problems, each once');

  // One route's unknown key does not hide another route's unknown upstream.
  const mixed = problems(`
upstreams:
  users: { targets: [ { url: "http://127.0.0.1:1" } ] }
routes:
  - match: { path: /a }
    upstream: nowhere
  - match: { path: /b }
    upstream: users
    colour: red
`);
  t.same(mixed.sort(), ['routes[0].upstream: unknown upstream "nowhere"', 'routes[1]: unknown key "colour"'].sort());

  const semantic = problems(`
upstreams:
  users: { targets: [ { url: "ftp://x" } ] }
routes:
  - name: a
    match: { path: /a }
    upstream: users
  - name: a
    match: { path: "/b/*/c" }
    upstream: billing
  - match: { path: /c, headers: { x-a: { regex: "(" } } }
    upstream: users
    rewrite: /d/:missing
`);
  for (const e of [
    'upstreams.users.targets[0].url: "ftp://x" is not an http(s) URL',
    'routes[1].name: duplicate route name "a" (also routes[0])',
    'routes[1].upstream: unknown upstream "billing"',
    'routes[1].match.path: "*" is only allowed as the last segment',
    'routes[2].rewrite: parameter ":missing" is not in match.path',
  ]) t.ok(semantic.includes(e), `lists: ${e}\n got: ${JSON.stringify(semantic)}`);
  t.ok(semantic.some((p) => p.startsWith('routes[2].match.headers.x-a.regex:')), 'bad regex reported by path');
});

t.test('missing routes and YAML syntax errors are reported', async (t) => {
  t.same(problems('upstreams: {}'), ['(root): missing required key "routes"']);
  const syntax = problems('routes: [ { match: ');
  t.equal(syntax.length, 1);
  t.match(syntax[0], /^\(syntax\): /);
});

t.test('deeply nested [ ] and { } are a ConfigError, not a process abort', async (t) => {
  // Two flow sequences ~900 deep (4 KB) made yaml 2.9 abort a node process (V8 out of memory compiling a RegExp, no
  // exception) in a standalone repro; where it happens depends on the stack left, so this asserts the guard's answer.
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  for (const text of [`{"routes":[],"a":${deep(1000)},"b":${deep(1000)}}`, `routes: []\na: ${deep(65)}\n`, `routes: []\na: it's\nb: [x, ${'{"k":'.repeat(70)}1${'}'.repeat(70)}]\n`]) {
    t.same(problems(text), ['(syntax): [ ] and { } nested deeper than 64 levels'], text.slice(0, 40));
  }
  t.same(problems(`routes: []\na: ${deep(60)}\nb: "${'['.repeat(100)}"\n`), ['(root): unknown key "a"', '(root): unknown key "b"'], '60 levels, and brackets inside a string, go on to validation');
});

t.test('gateway validate prints every error and exits 1; a good file exits 0', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-validate-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'routes:\n  - match: { path: /a }\n    upstream: nope\n  - match: { path: b }\n    upstream: nope\n');
  const r = spawnSync(process.execPath, [CLI, 'validate', bad], { encoding: 'utf8' });
  t.equal(r.status, 1);
  t.match(r.stderr, 'routes[1].match.path: must match pattern "^/"');
  // two flow sequences 950 deep: yaml 2.9 aborted this process (FATAL ERROR: RegExpCompiler Allocation failed) before the guard
  const deepFile = join(dir, 'deep.json');
  writeFileSync(deepFile, `{"a":${'['.repeat(950)}${']'.repeat(950)},"b":${'['.repeat(950)}${']'.repeat(950)}}`);
  const rd = spawnSync(process.execPath, [CLI, 'validate', deepFile], { encoding: 'utf8' });
  t.equal(rd.status, 1, `exits 1, no abort (signal ${rd.signal})`);
  t.match(rd.stderr, '(syntax): [ ] and { } nested deeper than 64 levels');
  const r2 = spawnSync(process.execPath, [CLI, 'validate', bad.replace('bad', 'missing')], { encoding: 'utf8' });
  t.equal(r2.status, 1);
  t.match(r2.stderr, 'cannot read');
  const good = join(dir, 'good.yaml');
  writeFileSync(good, 'upstreams: { a: { targets: [ { url: "http://127.0.0.1:1" } ] } }\nroutes:\n  - match: { path: /a }\n    upstream: a\n');
  const r3 = spawnSync(process.execPath, [CLI, 'validate', good], { encoding: 'utf8' });
  t.equal(r3.status, 0);
  t.match(r3.stdout, 'ok (1 routes, 1 upstreams)');
  const semantic = join(dir, 'semantic.yaml');
  writeFileSync(semantic, 'upstreams: { a: { targets: [ { url: "http://127.0.0.1:1" } ] } }\nroutes:\n  - match: { path: /a }\n    upstream: billing\n  - match: { path: /b }\n    upstream: other\n');
  const r4 = spawnSync(process.execPath, [CLI, 'validate', semantic], { encoding: 'utf8' });
  t.equal(r4.status, 1);
  t.match(r4.stderr, 'routes[0].upstream: unknown upstream "billing"');
  t.match(r4.stderr, 'routes[1].upstream: unknown upstream "other"');
});

t.test('auth config: unknown authenticators, duplicate consumers and keys are reported', async (t) => {
  const list = problems(`
consumers:
  - { id: alice, keys: [ { key: same-key-123 } ] }
  - { id: alice, keys: [ { key: same-key-123 } ] }
auth: { keys: { type: api-key } }
upstreams: { a: { targets: [ { url: "http://127.0.0.1:1" } ] } }
routes:
  - match: { prefix: /x }
    upstream: a
    auth: [keys, jwt]
    allow: { consumers: [carol] }
  - match: { prefix: /y }
    upstream: a
    allow: { groups: [admins] }
`);
  for (const e of [
    'consumers[1].id: duplicate consumer "alice"',
    'consumers[1].keys[0]: the same key is already given to "alice"',
    'routes[0].auth[1]: unknown authenticator "jwt"',
    'routes[0].allow.consumers[0]: unknown consumer "carol"',
    'routes[1].allow: needs auth on the route',
  ]) t.ok(list.includes(e), `lists: ${e}\n got: ${JSON.stringify(list)}`);
});

t.test('JWT authenticators: every problem is listed by path', async (t) => {
  const list = problems(`
auth:
  a: { type: jwt, algorithms: [HS256], keys: [{ secret: short }], bogus: 1 }
  b: { type: jwt, algorithms: [ES256] }
  c: { type: oauth }
  d: { type: jwt, algorithms: [RS256], keys: [{ publicKeyFile: missing.pem }] }
  e: { type: jwt, algorithms: [RS256], keys: [{ publicKey: "not a pem" }] }
  f: { type: jwt, algorithms: [HS256, ES256], keys: [{ secret: a-secret-that-is-long-enough-to-use-0123 }] }
upstreams: { up: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes:
  - { match: { prefix: /x }, upstream: up, auth: [a] }
`);
  for (const e of [
    'auth.a: unknown key "bogus"',
    'auth.a.keys[0].secret: must NOT have fewer than 32 characters',
    'auth.c.type: must be one of "api-key", "jwt"',
  ]) t.ok(list.includes(e), `lists: ${e}\n got: ${JSON.stringify(list)}`);
  const semantic = problems(`
auth:
  b: { type: jwt, algorithms: [ES256] }
  d: { type: jwt, algorithms: [RS256], keys: [{ publicKeyFile: missing.pem }] }
  e: { type: jwt, algorithms: [RS256], keys: [{ publicKey: "not a pem" }] }
  f: { type: jwt, algorithms: [HS256, ES256], keys: [{ secret: a-secret-that-is-long-enough-to-use-0123 }] }
  g: { type: jwt, algorithms: [RS256], keys: [{ secret: a-secret-that-is-long-enough-to-use-0123, jwk: {} }] }
upstreams: { up: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes:
  - { match: { prefix: /x }, upstream: up, auth: [b] }
`);
  for (const e of [
    'auth.b: give keys or jwksUrl',
    'auth.d.keys[0].publicKeyFile: cannot read "missing.pem": ENOENT',
    'auth.f.algorithms[1]: no key in auth.f.keys can verify ES256',
    'auth.g.keys[0]: give exactly one of secret, publicKey, publicKeyFile, jwk',
  ]) t.ok(semantic.includes(e), `lists: ${e}\n got: ${JSON.stringify(semantic)}`);
  t.ok(semantic.some((p) => p.startsWith('auth.e.keys[0]: not a usable key')), 'a bad PEM is named');
});

t.test('TLS settings: unreadable files, a key of another certificate and misplaced options are listed', async (t) => {
  const { makeCerts } = await import('./helpers/certs.js');
  const c = makeCerts([{ name: 'a', san: 'DNS:a.example' }, { name: 'b', san: 'DNS:b.example' }]);
  const list = problems(`
listen:
  tls: { certs: [ { cert: ${c.leaf.a!.cert}, key: ${c.leaf.b!.key} }, { cert: /nonexistent/x.pem, key: ${c.leaf.a!.key} } ] }
upstreams:
  plain: { targets: [{ url: "http://127.0.0.1:1" }], tls: { caFile: /nonexistent/ca.pem } }
routes:
  - { match: { prefix: / }, upstream: plain }
`);
  for (const e of [
    'listen.tls.certs[0].key: does not belong to the certificate in listen.tls.certs[0].cert',
    'listen.tls.certs[1].cert: cannot read "/nonexistent/x.pem": ENOENT',
    'upstreams.plain.tls: only used with https or grpcs targets',
    'upstreams.plain.tls.caFile: cannot read "/nonexistent/ca.pem": ENOENT',
  ]) t.ok(list.includes(e), `lists: ${e}\n got: ${JSON.stringify(list)}`);
  const rest = 'upstreams: { up: { targets: [{ url: "http://127.0.0.1:1" }] } }\nroutes: [ { match: { prefix: / }, upstream: up } ]\n';
  t.same(problems(`listen: { redirectHttp: { port: 8080 } }\n${rest}`), ['listen.redirectHttp: needs listen.tls (it redirects to https)']);
  t.same(problems(`listen: { tls: { cert: a.pem } }\n${rest}`), ['listen.tls: cert and key go together']);
});

t.test('plans: unknown plan names and bad plan limits are listed', async (t) => {
  const list = problems(`
plans:
  free: { limits: [ { rate: 0 } ], quota: { requests: 10, per: week } }
consumers:
  - { id: a, plan: gold }
upstreams: { up: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes: [ { match: { prefix: / }, upstream: up } ]
`);
  for (const e of [
    'plans.free.limits[0].rate: must be > 0',
    'plans.free.quota.per: must be one of "day", "month"',
  ]) t.ok(list.includes(e), `lists: ${e}\n got: ${JSON.stringify(list)}`);
  t.same(problems(`
consumers: [ { id: a, plan: gold } ]
upstreams: { up: { targets: [{ url: "http://127.0.0.1:1" }] } }
routes: [ { match: { prefix: / }, upstream: up } ]
`), ['consumers[0].plan: unknown plan "gold" (define it under plans)']);
});

t.test('gRPC upstreams and transcoding routes: every problem listed by path', async (t) => {
  const protoDir = join(process.cwd(), 'protos');
  const list = problems(`
upstreams:
  catalog: { protocol: grpc, targets: [{ url: "http://127.0.0.1:1" }], protos: { files: [demo/catalog.proto], includeDirs: [${protoDir}] } }
  broken: { protocol: grpc, targets: [{ url: "grpc://127.0.0.1:1" }], protos: { files: [nope/missing.proto], includeDirs: [${protoDir}] } }
  noprotos: { protocol: grpc, targets: [{ url: "grpc://127.0.0.1:1" }] }
  web: { targets: [{ url: "http://127.0.0.1:1" }] }
routes:
  - { transcode: { upstream: catalog, services: [demo.catalog.v1.Nope] } }
  - { transcode: { upstream: web } }
  - { match: { prefix: /x }, upstream: catalog }
`);
  for (const e of [
    'upstreams.catalog.targets[0].url: "http://127.0.0.1:1" is not a grpc://host:port (or grpcs://) URL',
    'upstreams.noprotos: protocol grpc needs protos',
    'routes[0].transcode.services[0]: no service "demo.catalog.v1.Nope" in the protos of "catalog"',
    'routes[1].transcode.upstream: "web" is not a grpc upstream',
    'routes[2].upstream: "catalog" is a grpc upstream: use transcode',
  ]) t.ok(list.includes(e), `lists: ${e}\n got: ${JSON.stringify(list)}`);
  t.ok(list.some((p) => p.startsWith('upstreams.broken.protos: ') && p.includes('nope/missing.proto')), 'a missing proto file is named');
  t.same(problems('upstreams: { up: { targets: [{ url: "http://127.0.0.1:1" }] } }\nroutes: [ { match: { prefix: /y } }, { upstream: up } ]'), [
    'routes[0]: missing required key "upstream"', 'routes[1]: missing required key "match"',
  ], 'a proxying route still needs match and upstream');
});

t.test('the old top-level name "workers" is refused with its new name', async (t) => {
  const list = problems(`
workers: 2
upstreams: { a: { targets: [ { url: "http://127.0.0.1:1" } ] } }
routes: [ { match: { path: /x }, upstream: a } ]
`);
  t.same(list, ['workers: renamed to "threads"']);
  t.equal(parseConfig(`
threads: 2
transcoding: { workers: 3 }
upstreams: { a: { targets: [ { url: "http://127.0.0.1:1" } ] } }
routes: [ { match: { path: /x }, upstream: a } ]
`).threads, 2, 'threads is the front-end thread count; transcoding.workers the pool\'s');
});

t.test('observability: bad buckets, unknown histograms and template fields are listed', async (t) => {
  const list = problems(`
upstreams:
  a: { targets: [ { url: http://127.0.0.1:1 } ] }
routes:
  - { match: { prefix: / }, upstream: a, accessLog: maybe }
observability:
  metrics: { buckets: [0.1, 0.05], histogramBuckets: { gateway_nothing: [1] }, maxSeries: 1 }
  accessLog: { format: text, template: '{method} {secret_field}', sample: 2 }
  tracing: { otlp: { endpoint: 'ftp://x' }, sampleRatio: -1 }
`);
  t.same(list.map((p) => p.replace(/ \(.*$/, '')).sort(), [
    'observability.accessLog.sample: must be <= 1',
    'observability.accessLog.template: no field "secret_field"',
    'observability.metrics.buckets: bucket bounds must be ascending',
    'observability.metrics.histogramBuckets.gateway_nothing: not a histogram',
    'observability.metrics.maxSeries: must be >= 10',
    'observability.tracing.otlp.endpoint: must match pattern "^https?://"',
    'observability.tracing.sampleRatio: must be >= 0',
    'routes[0].accessLog: must be boolean',
  ].sort(), 'every problem, by its path');
  const semantic = problems(`
upstreams:
  a: { targets: [ { url: http://127.0.0.1:1 } ] }
routes:
  - { match: { prefix: / }, upstream: a }
observability:
  metrics: { buckets: [0.1, 0.05], histogramBuckets: { gateway_nothing: [1] } }
  accessLog: { format: text, template: '{method} {secret_field}' }
`);
  t.equal(semantic.length, 3);
  t.match(semantic.join('\n'), /observability\.metrics\.buckets: bucket bounds must be ascending/);
  t.match(semantic.join('\n'), /observability\.metrics\.histogramBuckets\.gateway_nothing: not a histogram/);
  t.match(semantic.join('\n'), /observability\.accessLog\.template: no field "secret_field"/);
});
