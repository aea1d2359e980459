// Response aggregation over real sockets: HTTP backends (node:http servers) and a gRPC
// backend (the demo catalog) behind one route, composed in the pool.
import t, { type Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { startGatewayProcess, ENGINES, type GatewayProcess } from './helpers/gateway-process.js';
import { request } from './helpers/client.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startCatalogServer, PROTO_DIR, type CatalogServer } from '../src/demo/catalog-service.js';
import { loadConfigFile, ConfigError } from '../src/config/load.js';

const json = (res: import('node:http').ServerResponse, status: number, body: unknown) => {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

/** users: /users/:id → { data: {...} }; /users/slow waits 2 s; /users/404 → 404. */
function usersService(): Promise<Upstream> {
  return startUpstream((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const id = url.pathname.split('/')[2];
    if (id === 'slow') { setTimeout(() => json(res, 200, { data: { id } }), 2000); return; }
    if (id === 'missing') { json(res, 404, { message: 'no such user' }); return; }
    if (id === 'broken') { json(res, 500, { message: 'oops' }); return; }
    if (id === 'text') { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('not json'); return; }
    if (id === 'big') { json(res, 200, { data: { id, blob: 'x'.repeat(200_000) } }); return; }
    json(res, 200, { data: { id, name: `user ${id}`, email: `${id}@example.com`, password: 'secret', favoriteShelf: 'classics', tags: ['a'], profile: { city: 'Paris', zip: '75001' } }, meta: { v: 1 } });
  });
}

/** orders: /orders?user=ID → [ ... ] (an array); user=slow waits 2 s; ?user=tags → { tags: [...] } */
function ordersService(): Promise<Upstream> {
  return startUpstream((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const user = url.searchParams.get('user');
    if (user === 'slow') { setTimeout(() => json(res, 200, []), 2000); return; }
    if (url.pathname === '/proto') { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"__proto__":{"polluted":true},"profile":{"__proto__":{"deep":true}}}'); return; }
    if (url.pathname === '/digits') { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{ "big": 12345678901234567890, "f": 1.50 }\n'); return; }
    if (url.pathname === '/array') { json(res, 200, [1]); return; }
    if (url.pathname === '/tags') { json(res, 200, { tags: ['b', 'c'], profile: { country: 'FR' } }); return; }
    if (url.pathname === '/echo') { json(res, 200, { method: req.method, url: req.url, tenant: req.headers['x-tenant'] ?? null, accept: req.headers.accept }); return; }
    json(res, 200, [{ id: 1, user }, { id: 2, user }]);
  });
}

interface Env { users: Upstream; orders: Upstream; grpc: CatalogServer }

function upstreams(e: Env) {
  return {
    users: { targets: [{ url: e.users.url }] },
    orders: { targets: [{ url: e.orders.url }] },
    catalog: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${e.grpc.port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] } },
  };
}

const profile = (extra: Record<string, unknown> = {}) => ({
  name: 'profile',
  match: { path: '/v1/profile/:id', methods: ['GET'] },
  aggregate: {
    timeoutMs: 5000, // generous: the first gRPC call of a loaded CI machine opens its connection
    backends: [
      { name: 'user', upstream: 'users', path: '/users/{params.id}', required: true, target: 'data', allow: ['id', 'name', 'email', 'profile.city'], group: 'user' },
      { name: 'orders', upstream: 'orders', path: '/orders?user={params.id}', isCollection: true, mapping: { collection: 'orders' }, timeoutMs: 3000, fallback: { orders: [] } },
      { name: 'recs', grpc: { upstream: 'catalog', method: 'demo.catalog.v1.Catalog/ListBooks', request: { shelf: '{steps.user.favoriteShelf}', page_size: 1 } }, after: ['user'], group: 'recommendations' },
    ],
    ...extra,
  },
});

async function setup(t: Test, routes: unknown[], engine: (typeof ENGINES)[number] = 'uws', extra: Record<string, unknown> = {}): Promise<{ gw: GatewayProcess; e: Env }> {
  const e: Env = { users: await usersService(), orders: await ordersService(), grpc: await startCatalogServer() };
  const gw = await startGatewayProcess({ upstreams: upstreams(e), routes, transcoding: { workers: 1 }, ...extra }, engine);
  t.teardown(async () => { await gw.stop(); await e.users.close(); await e.orders.close(); await e.grpc.close(); });
  return { gw, e };
}

// Only grouped backends: their objects are spliced into the answer as they came (compose.ts)
for (const where of ['front thread', 'pool'] as const) {
  t.test(`grouped-only backends are spliced unparsed; a non-object answer still fails its backend (composed in the ${where})`, async (t) => {
    const grouped = (name: string, tail: Array<Record<string, unknown>>) => ({
      name, match: { path: `/v1/${name}/:id`, methods: ['GET'] },
      aggregate: { merge: 'deep', backends: [{ name: 'u', upstream: 'users', path: '/users/{params.id}', group: 'u' }, ...tail] },
    });
    const { gw } = await setup(t, [
      grouped('spliced', [{ name: 'd', upstream: 'orders', path: '/digits', group: 'd' }, { name: 'p', upstream: 'orders', path: '/proto', group: 'p' }]),
      grouped('mixed', [{ name: 'a', upstream: 'orders', path: '/array', group: 'a' }]),
    ], 'uws', where === 'pool' ? { transcoding: { workers: 1, inlineComposeBelowBytes: 0 } } : {});
    const r = await request(`${gw.url}/v1/spliced/7`);
    t.equal(r.status, 200, r.body);
    t.equal(r.headers['x-aggregate-completed'], 'true');
    t.ok(r.body.includes('"d":{ "big": 12345678901234567890, "f": 1.50 }\n'), 'the backend\'s bytes as they came: 20 digits, not 12345678901234567000');
    t.ok(r.body.includes('"p":{"__proto__":{"polluted":true}'), 'a "__proto__" key stays text');
    const parsed = JSON.parse(r.body);
    t.same(Object.keys(parsed), ['u', 'd', 'p'], 'declared order');
    t.equal(parsed.u.data.id, '7');
    t.equal(({} as Record<string, unknown>).polluted, undefined);
    const m = await request(`${gw.url}/v1/mixed/7`);
    t.equal(m.status, 200, m.body);
    t.equal(m.headers['x-aggregate-completed'], 'false', 'an array where an object was expected: that backend failed');
    t.equal(m.headers['x-aggregate-failed'], 'a=invalid');
    t.same(Object.keys(m.json), ['u']);
  });
}

// composed in the front thread (small answers, the default) and in the pool worker (transcoding.inlineComposeBelowBytes: 0)
for (const [engine, where] of ENGINES.flatMap((en) => [[en, 'front thread'], [en, 'pool']] as const)) {
  t.test(`parallel and sequential backends, filters, groups (${engine}, composed in the ${where})`, async (t) => {
    const { gw, e } = await setup(t, [profile()], engine, where === 'pool' ? { transcoding: { workers: 1, inlineComposeBelowBytes: 0 } } : {});
    const r = await request(`${gw.url}/v1/profile/7`);
    t.equal(r.status, 200, r.body);
    t.same(r.json.user, { id: '7', name: 'user 7', email: '7@example.com', profile: { city: 'Paris' } }, 'target data, allow with a dot path, group');
    t.same(r.json.orders, [{ id: 1, user: '7' }, { id: 2, user: '7' }], 'isCollection + mapping');
    t.equal(r.json.recommendations.books.length, 1, 'the gRPC step ran with the user step\'s field');
    t.match(r.json.recommendations.books[0].name, /^shelves\/classics\//);
    t.equal(r.headers['x-aggregate-completed'], 'true');
    t.equal(r.headers['x-aggregate-failed'], undefined);
    t.ok(r.headers['x-request-id']);
    const call = e.grpc.calls.find((c) => c.method === 'ListBooks');
    t.ok(call, 'the catalog got the ListBooks call');
    t.equal(e.orders.seen[0]!.url, '/orders?user=7');
    t.equal(e.users.seen[0]!.headers['x-request-id'], r.headers['x-request-id'], 'the request id goes to every backend');
    t.equal(e.users.seen[0]!.headers.accept, 'application/json');
  });
}

t.test('deny, merge modes and array concatenation', async (t) => {
  const backends = (merge: string) => ({
    name: `m-${merge}`,
    match: { path: `/merge/${merge}/:id` },
    aggregate: {
      merge,
      backends: [
        { name: 'user', upstream: 'users', path: '/users/{params.id}', target: 'data', deny: ['password', 'email', 'profile.zip'] },
        { name: 'extra', upstream: 'orders', path: '/tags' },
      ],
    },
  });
  const proto = (merge: string) => ({
    name: `p-${merge}`,
    match: { path: `/proto/${merge}/:id` },
    aggregate: { merge, backends: [{ name: 'user', upstream: 'users', path: '/users/{params.id}', target: 'data' }, { name: 'proto', upstream: 'orders', path: '/proto' }] },
  });
  const { gw } = await setup(t, [backends('shallow'), backends('deep'), backends('concat'), proto('shallow'), proto('deep'), proto('concat')]);
  const shallow = (await request(`${gw.url}/merge/shallow/1`)).json;
  t.same(shallow.tags, ['b', 'c'], 'shallow: the later backend wins');
  t.same(shallow.profile, { country: 'FR' }, 'shallow: objects are replaced');
  t.equal(shallow.password, undefined, 'deny removed password');
  t.equal(shallow.email, undefined);
  const deep = (await request(`${gw.url}/merge/deep/1`)).json;
  t.same(deep.profile, { city: 'Paris', country: 'FR' }, 'deep: objects merged (profile.zip denied)');
  t.same(deep.tags, ['b', 'c'], 'deep: arrays replaced');
  const concat = (await request(`${gw.url}/merge/concat/1`)).json;
  t.same(concat.tags, ['a', 'b', 'c'], 'concat: same-named arrays concatenated in declared order');
  t.same(concat.profile, { city: 'Paris', country: 'FR' });
  for (const merge of ['shallow', 'deep', 'concat']) {
    const r = (await request(`${gw.url}/proto/${merge}/1`)).json as Record<string, unknown>;
    t.same(Object.getOwnPropertyDescriptor(r, '__proto__')?.value, { polluted: true }, `${merge}: a backend's "__proto__" stays an ordinary key`);
    t.equal(r.polluted, undefined, `${merge}: and does not become the answer's prototype`);
    t.same(Object.getOwnPropertyDescriptor(r.profile, '__proto__')?.value, { deep: true }, `${merge}: nested too`);
  }
});

t.test('placeholders: query, headers, identity (API key), arrays joined, values percent-encoded; method and body', async (t) => {
  const route = {
    name: 'ph',
    match: { path: '/ph/:id', methods: ['POST'] },
    auth: ['keys'],
    aggregate: {
      backends: [
        { name: 'a', upstream: 'orders', path: '/echo?q={query.tag}&h={headers.x-tenant}&c={identity.consumer}&id={params.id}' },
        { name: 'b', upstream: 'orders', path: '/echo', method: 'PUT', body: '/order', group: 'b' },
        { name: 'c', upstream: 'orders', path: '/echo', method: 'POST', body: true, group: 'c' },
      ],
    },
  };
  const e: Env = { users: await usersService(), orders: await ordersService(), grpc: await startCatalogServer() };
  const gw = await startGatewayProcess({
    upstreams: upstreams(e), routes: [route], transcoding: { workers: 1 },
    consumers: [{ id: 'alice', keys: [{ key: 'k-alice-123456' }] }], auth: { keys: { type: 'api-key', header: 'x-api-key' } },
  }, 'uws');
  t.teardown(async () => { await gw.stop(); await e.users.close(); await e.orders.close(); await e.grpc.close(); });
  const r = await request(`${gw.url}/ph/a%20b?tag=x&tag=y/z`, { method: 'POST', headers: { 'x-api-key': 'k-alice-123456', 'x-tenant': 'acme&co', 'content-type': 'application/json' }, body: '{"order":{"n":1},"other":2}' });
  t.equal(r.status, 200, r.body);
  t.equal(r.json.url, '/echo?q=x,y%2Fz&h=acme%26co&c=alice&id=a%20b', 'arrays joined with commas, every value encoded');
  t.equal(r.json.tenant, 'acme&co', 'client headers are forwarded');
  t.same(r.json.b.method, 'PUT');
  const seenB = e.orders.seen.find((s) => s.method === 'PUT')!;
  t.equal(seenB.body.toString(), '{"n":1}', 'the body part at the pointer');
  t.equal(seenB.headers['content-type'], 'application/json');
  const seenC = e.orders.seen.find((s) => s.method === 'POST')!;
  t.equal(seenC.body.toString(), '{"order":{"n":1},"other":2}', 'the whole body');
  const noKey = await request(`${gw.url}/ph/1`, { method: 'POST', body: '{}' });
  t.equal(noKey.status, 401, 'the route\'s policies run before the aggregate');
  const noOrder = await request(`${gw.url}/ph/1?tag=a`, { method: 'POST', headers: { 'x-api-key': 'k-alice-123456', 'x-tenant': 't' }, body: '{"other":1}' });
  t.equal(noOrder.status, 200, 'an optional backend whose body part is missing fails alone');
  t.match(noOrder.headers['x-aggregate-failed'], /b=400/);
  const noQuery = await request(`${gw.url}/ph/1`, { method: 'POST', headers: { 'x-api-key': 'k-alice-123456', 'x-tenant': 't' }, body: '{"order":{}}' });
  t.match(noQuery.headers['x-aggregate-failed'], /a=400/, 'a missing query value fails that backend with 400');
});

t.test('failures: required, optional with fallback, timeouts, non-JSON, oversized, all failing', async (t) => {
  const route = (name: string, userPath: string, ordersUser: string, extra: Record<string, unknown> = {}) => ({
    name,
    match: { path: `/${name}` },
    aggregate: {
      timeoutMs: 600,
      maxBackendBytes: 100_000,
      backends: [
        { name: 'user', upstream: 'users', path: userPath, ...extra },
        { name: 'orders', upstream: 'orders', path: `/orders?user=${ordersUser}`, isCollection: true, mapping: { collection: 'orders' }, timeoutMs: 200, fallback: { orders: [] } },
      ],
      errors: 'include',
    },
  });
  const { gw } = await setup(t, [
    route('req-404', '/users/missing', '1', { required: true }),
    route('req-500', '/users/broken', '1', { required: true }),
    route('opt-timeout', '/users/1', 'slow'),
    route('req-slow', '/users/slow', '1', { required: true }),
    route('req-text', '/users/text', '1', { required: true }),
    route('raw', '/users/text', '1', { raw: true }),
    route('req-big', '/users/big', '1', { required: true }),
    route('all-fail', '/users/broken', 'slow'),
  ]);
  const r404 = await request(`${gw.url}/req-404`);
  t.equal(r404.status, 404, 'a required backend\'s 4xx is passed through');
  t.same(r404.json, { message: 'no such user' });
  t.equal(r404.headers['x-aggregate-completed'], 'false');
  t.equal(r404.headers['x-aggregate-failed'], 'user=404');
  const r500 = await request(`${gw.url}/req-500`);
  t.equal(r500.status, 502);
  t.equal(r500.json.error.code, 'aggregate_backend_failed');
  t.match(r500.json.error.message, /backend "user"/);
  const opt = await request(`${gw.url}/opt-timeout`);
  t.equal(opt.status, 200);
  t.same(opt.json.orders, [], 'the fallback');
  t.equal(opt.json.data.id, '1');
  t.equal(opt.headers['x-aggregate-completed'], 'false');
  t.equal(opt.headers['x-aggregate-failed'], 'orders=504');
  t.equal(opt.json._errors.orders.status, '504', 'errors: include lists it');
  const started = Date.now();
  const slow = await request(`${gw.url}/req-slow`);
  t.equal(slow.status, 504, 'the aggregate\'s timeout cuts a slow required backend');
  t.equal(slow.json.error.code, 'aggregate_backend_timeout');
  t.ok(Date.now() - started < 1500, 'within about timeoutMs');
  const text = await request(`${gw.url}/req-text`);
  t.equal(text.status, 502);
  t.match(text.json.error.message, /not JSON/);
  const raw = await request(`${gw.url}/raw`);
  t.equal(raw.status, 200);
  t.equal(raw.json.user, 'not json', 'raw: the body under the backend\'s name as a string');
  const big = await request(`${gw.url}/req-big`);
  t.equal(big.status, 502);
  t.match(big.json.error.message, /maxBackendBytes/);
  const all = await request(`${gw.url}/all-fail`);
  t.equal(all.status, 504, 'every backend failed: the worst cause');
  t.equal(all.headers['x-aggregate-failed'], 'user=500, orders=504');
});

t.test('gRPC backend failures carry the gRPC code; a failed step skips its dependents', async (t) => {
  const { gw } = await setup(t, [
    {
      name: 'g',
      match: { path: '/g/:shelf/:id' },
      aggregate: {
        backends: [
          { name: 'book', grpc: { upstream: 'catalog', method: 'demo.catalog.v1.Catalog/GetBook', request: { name: 'shelves/{params.shelf}/books/{params.id}' } }, group: 'book' },
          { name: 'user', upstream: 'users', path: '/users/{params.shelf}', target: 'data', group: 'user' },
          { name: 'after', upstream: 'orders', path: '/orders?user={steps.book.author}', after: ['book'], group: 'after', isCollection: true },
        ],
      },
    },
  ]);
  const ok = await request(`${gw.url}/g/classics/1`);
  t.equal(ok.status, 200, ok.body);
  t.equal(ok.json.book.title, 'Sketch of the Analytical Engine');
  t.same(ok.json.after.collection[0], { id: 1, user: 'Ada Lovelace' }, 'a gRPC step\'s field in an HTTP path');
  const missing = await request(`${gw.url}/g/classics/missing`);
  t.equal(missing.status, 200);
  t.equal(missing.headers['x-aggregate-failed'], 'book=NOT_FOUND, after=skipped');
  t.equal(missing.json.user.id, 'classics', 'the other backends still answer');
});

t.test('the client leaving cancels HTTP and gRPC backends', async (t) => {
  const { gw, e } = await setup(t, [{
    name: 'slow',
    match: { path: '/slow' },
    aggregate: {
      timeoutMs: 5000,
      backends: [
        { name: 'user', upstream: 'users', path: '/users/slow' },
        { name: 'book', grpc: { upstream: 'catalog', method: 'demo.catalog.v1.Catalog/GetBook', request: { name: 'shelves/x/books/slow' } } },
      ],
    },
  }]);
  const net = await import('node:net');
  const s = net.connect(gw.port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  s.write('GET /slow HTTP/1.1\r\nHost: x\r\nX-Request-Id: leave-1\r\n\r\n');
  await new Promise((r) => setTimeout(r, 300));
  s.destroy();
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline && !e.grpc.cancelledIds.includes('leave-1')) await new Promise((r) => setTimeout(r, 50));
  t.ok(e.grpc.cancelledIds.includes('leave-1'), 'the gRPC call was cancelled');
  // the HTTP backend's connection was cut: the users server sees its socket close
  t.equal(e.users.openSockets(), 0, 'the HTTP backend call was aborted');
});

t.test('reload with a changed aggregate', async (t) => {
  const { gw } = await setup(t, [profile()]);
  t.equal((await request(`${gw.url}/v1/profile/1`)).json.user.email, '1@example.com');
  const next = profile();
  next.aggregate.backends[0] = { ...next.aggregate.backends[0]!, allow: ['id', 'favoriteShelf'], group: 'who' } as never;
  const cfg = parse(readFileSync(gw.configFile, 'utf8'));
  writeFileSync(gw.configFile, stringify({ ...cfg, routes: [next] }));
  gw.proc.kill('SIGHUP');
  const deadline = Date.now() + 5000;
  let r = await request(`${gw.url}/v1/profile/1`);
  while (Date.now() < deadline && !r.json.who) { await new Promise((res) => setTimeout(res, 100)); r = await request(`${gw.url}/v1/profile/1`); }
  t.same(r.json.who, { id: '1', favoriteShelf: 'classics' }, 'the new filters and group apply');
  t.equal(r.json.user, undefined);
});

t.test('config errors are listed by path', async (t) => {
  const grpc = await startCatalogServer();
  t.teardown(() => grpc.close());
  const cfg = {
    upstreams: {
      users: { targets: [{ url: 'http://127.0.0.1:1' }] },
      catalog: { protocol: 'grpc', targets: [{ url: 'grpc://127.0.0.1:1' }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] } },
    },
    routes: [{
      name: 'bad',
      match: { path: '/bad/:id' },
      aggregate: {
        backends: [
          { name: 'a', upstream: 'users', path: '/a/{params.nope}', after: ['b'] },
          { name: 'b', upstream: 'users', path: '/b/{steps.c.x}', after: ['a'] },
          { name: 'c', upstream: 'nowhere', path: '/c/{bogus.x}' },
          { name: 'd', grpc: { upstream: 'catalog', method: 'demo.catalog.v1.Catalog/Nope' } },
          { name: 'e', grpc: { upstream: 'users', method: 'a.B/C' } },
          { name: 'e', upstream: 'users', path: '/{identity.consumer}', required: true, fallback: {}, after: ['zz'] },
          { name: 'f', grpc: { upstream: 'catalog', method: 'demo.catalog.v1.Catalog/WatchShelf' } },
        ],
      },
    }],
  };
  const dir = (await import('node:fs')).mkdtempSync(`${(await import('node:os')).tmpdir()}/agg-`);
  writeFileSync(`${dir}/gw.yaml`, stringify(cfg));
  let problems: string[] = [];
  try { loadConfigFile(`${dir}/gw.yaml`); } catch (e) { if (e instanceof ConfigError) problems = e.problems; else throw e; }
  const want = [
    /routes\[0\]\.aggregate: the backends wait for each other in a cycle \(a → b → a\)/,
    /routes\[0\]\.aggregate\.backends\[0\]\.path: \{params\.nope\}: the route's match\.path has no :nope/,
    /routes\[0\]\.aggregate\.backends\[1\]\.path: \{steps\.c\.x\}: list "c" in after/,
    /routes\[0\]\.aggregate\.backends\[2\]\.path: \{bogus\.x\}: a placeholder starts with/,
    /routes\[0\]\.aggregate\.backends\[2\]\.upstream: unknown upstream "nowhere"/,
    /routes\[0\]\.aggregate\.backends\[3\]\.grpc\.method: service demo\.catalog\.v1\.Catalog has no method Nope/,
    /routes\[0\]\.aggregate\.backends\[4\]\.grpc\.upstream: "users" is not a grpc upstream/,
    /routes\[0\]\.aggregate\.backends\[5\]\.name: duplicate backend name "e"/,
    /routes\[0\]\.aggregate\.backends\[5\]\.after\[0\]: unknown backend "zz"/,
    /routes\[0\]\.aggregate\.backends\[5\]\.fallback: only an optional backend/,
    /routes\[0\]\.aggregate\.backends\[5\]\.path: \{identity\.consumer\}: identity placeholders need auth/,
    /routes\[0\]\.aggregate\.backends\[6\]\.grpc\.method: .*streaming method/,
  ];
  for (const w of want) t.ok(problems.some((p) => w.test(p)), `${w} in:\n${problems.join('\n')}`);
});
