import t from 'tap';
import { Router, paramNamesOf, patternOf, type Routable, type MatchInput } from '../src/router/router.js';
import { compilePredicates } from '../src/router/predicates.js';
import { normalisePath } from '../src/router/normalise-path.js';

interface R extends Routable { id: string }

function route(id: string, path: string, opts: { methods?: string[]; headers?: Record<string, any>; query?: Record<string, any> } = {}): { route: R; hosts: string[] | null; path: string } {
  return {
    route: {
      id,
      methods: opts.methods ? new Set(opts.methods) : null,
      headerPredicates: compilePredicates(opts.headers, true),
      queryPredicates: compilePredicates(opts.query, false),
      paramNames: paramNamesOf(path),
    },
    hosts: null,
    path,
  };
}

function input(method: string, path: string, extra: Partial<MatchInput> & { headers?: Record<string, string>; query?: Record<string, string> } = {}): MatchInput {
  return {
    method, path, host: extra.host ?? '',
    header: (n) => extra.headers?.[n],
    queryParam: (n) => extra.query?.[n],
  };
}

function hit(router: Router<R>, i: MatchInput): string {
  const m = router.match(i);
  return m.kind === 'route' ? m.route.id : m.kind;
}

t.test('static beats param beats wildcard, with backtracking', async (t) => {
  const r = new Router<R>([
    route('wild', '/users/*'),
    route('param', '/users/:id'),
    route('static', '/users/me'),
    route('deep-param', '/users/:id/orders'),
    route('deep-static', '/users/me/settings'),
  ]);
  t.equal(hit(r, input('GET', '/users/me')), 'static');
  t.equal(hit(r, input('GET', '/users/42')), 'param');
  t.equal(hit(r, input('GET', '/users/42/x/y')), 'wild');
  t.equal(hit(r, input('GET', '/users/me/orders')), 'deep-param', 'backtracks from static "me" to :id');
  t.equal(hit(r, input('GET', '/users/me/settings')), 'deep-static');
  t.equal(hit(r, input('GET', '/users')), 'wild', '/users/* also matches /users');
  t.equal(hit(r, input('GET', '/other')), 'not-found');
  const m = r.match(input('GET', '/users/42/x/y'));
  t.equal(m.kind === 'route' ? m.wildcard : null, '42/x/y', 'the wildcard carries the rest of the path');
});

t.test('params are decoded and named', async (t) => {
  const r = new Router<R>([route('p', '/a/:first/b/:second')]);
  const m = r.match(input('GET', '/a/hello%20world/b/2'));
  t.ok(m.kind === 'route');
  if (m.kind === 'route') t.same(m.params, { first: 'hello world', second: '2' });
});

t.test('methods: 405 lists Allow from every route on the path', async (t) => {
  const r = new Router<R>([
    route('get', '/items/:id', { methods: ['GET', 'HEAD'] }),
    route('del', '/items/:id', { methods: ['DELETE'] }),
    route('static-post', '/items/new', { methods: ['POST'] }),
  ]);
  t.equal(hit(r, input('DELETE', '/items/5')), 'del');
  t.equal(hit(r, input('DELETE', '/items/new')), 'del', 'a method miss on a static node falls back to the param route');
  const m = r.match(input('PUT', '/items/5'));
  t.same(m, { kind: 'method-not-allowed', allow: ['DELETE', 'GET', 'HEAD'] });
});

t.test('hosts: exact host, then wildcard host, then any host', async (t) => {
  const specs = [
    { ...route('any', '/x'), hosts: null },
    { ...route('wild', '/x'), hosts: ['*.example.com'] },
    { ...route('exact', '/x'), hosts: ['api.example.com'] },
    { ...route('other-path', '/only-any'), hosts: null },
  ];
  const r = new Router<R>(specs);
  t.equal(hit(r, input('GET', '/x', { host: 'api.example.com' })), 'exact');
  t.equal(hit(r, input('GET', '/x', { host: 'www.example.com' })), 'wild');
  t.equal(hit(r, input('GET', '/x', { host: 'example.com' })), 'any', 'the wildcard needs a subdomain');
  t.equal(hit(r, input('GET', '/only-any', { host: 'api.example.com' })), 'other-path', 'falls back to any-host routes');
});

t.test('header and query predicates; more specific routes first', async (t) => {
  const r = new Router<R>([
    route('plain', '/s'),
    route('v2', '/s', { headers: { 'X-Version': '2' } }),
    route('beta', '/s', { query: { beta: { present: true } } }),
    route('re', '/s', { headers: { 'x-client': { regex: '^mobile-' } } }),
  ]);
  t.equal(hit(r, input('GET', '/s')), 'plain');
  t.equal(hit(r, input('GET', '/s', { headers: { 'x-version': '2' } })), 'v2');
  t.equal(hit(r, input('GET', '/s', { query: { beta: '' } })), 'beta');
  t.equal(hit(r, input('GET', '/s', { headers: { 'x-client': 'mobile-ios' } })), 're');
  t.equal(hit(r, input('GET', '/s', { headers: { 'x-client': 'desktop' } })), 'plain');
});

t.test('prefix patterns and dot segments', async (t) => {
  t.equal(patternOf({ prefix: '/api' }), '/api/*');
  t.equal(patternOf({ prefix: '/api/' }), '/api/*');
  t.equal(patternOf({}), '/*');
  const norm = (p: string) => { const r = normalisePath(p, true); return r.ok ? r.path : null; };
  t.equal(norm('/public/../admin'), '/admin');
  t.equal(norm('/public/..x/a.b'), '/public/..x/a.b');
  t.equal(norm('/a/./b/%2e%2e/c'), '/a/c');
  t.equal(norm('/../../etc'), '/etc');
});

t.test('10,000 routes: every one is reachable and routes do not shadow each other', async (t) => {
  const specs = [];
  for (let i = 0; i < 10_000; i++) specs.push(route(`r${i}`, `/svc${i % 100}/v${Math.floor(i / 100)}/:id`));
  const r = new Router<R>(specs);
  let ok = 0;
  for (let i = 0; i < 10_000; i++) if (hit(r, input('GET', `/svc${i % 100}/v${Math.floor(i / 100)}/7`)) === `r${i}`) ok++;
  t.equal(ok, 10_000);
});
