// The path normaliser: one normal form per path, routed on and forwarded as is.
import t from 'tap';
import { normalisePath, checkQuery, ENCODED_SLASH, BACKSLASH, SEMICOLON } from '../src/router/normalise-path.js';

const norm = (p: string, merge = true) => normalisePath(p, merge);

t.test('unreserved escapes are decoded, others upper-cased, dot segments resolved (encoded too)', async (t) => {
  const cases: Array<[string, string]> = [
    ['/%61dmin/users', '/admin/users'],
    ['/a/%2e%2e/admin', '/admin'],
    ['/a/%2E/b', '/a/b'],
    ['/public/./../admin/', '/admin/'],
    ['/a/b/..', '/a/'],
    ['/..', '/'],
    ['/x%7e%5f%2D', '/x~_-'],
    ['/a%2fb', '/a%2Fb'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/plain/path', '/plain/path'],
  ];
  for (const [raw, want] of cases) {
    const r = norm(raw);
    t.ok(r.ok, raw);
    if (r.ok) t.equal(r.path, want, `${raw} → ${want}`);
  }
});

t.test('repeated slashes are merged unless turned off', async (t) => {
  const on = norm('//admin//users/');
  t.ok(on.ok && on.path === '/admin/users/');
  const off = norm('//admin//users', false);
  t.ok(off.ok && off.path === '//admin//users', 'kept as sent');
  const dotsOff = norm('//a/../b', false);
  t.ok(dotsOff.ok && dotsOff.path === '//b', 'dot segments are still resolved');
});

t.test('controls, spaces, non-ASCII, fragments and broken escapes are refused', async (t) => {
  for (const bad of ['/a%00b', '/a%0d%0aSet-Cookie:x', '/a%7F', '/a\r\nb', '/a b', '/a\u0000', '/caf\u00e9', '/\u010d\u010a', '/a#frag', '/a%zz', '/a%4', '/a%', 'relative', '/a\u007f']) {
    const r = norm(bad);
    t.notOk(r.ok, JSON.stringify(bad));
  }
});

t.test('flags for what an upstream may read differently', async (t) => {
  const f = (p: string) => { const r = norm(p); return r.ok ? r.flags : -1; };
  t.equal(f('/admin%2Fusers'), ENCODED_SLASH);
  t.equal(f('/admin%5cusers'), ENCODED_SLASH);
  t.equal(f('/admin\\users'), BACKSLASH);
  t.equal(f('/admin;jsessionid=1/users'), SEMICOLON);
  t.equal(f('/admin/users'), 0);
});

t.test('query strings: printable ASCII only, no fragment', async (t) => {
  t.equal(checkQuery('a=1&b=%20x'), undefined);
  t.equal(checkQuery('q=100%'), undefined, 'a raw % is the upstream\'s business');
  t.type(checkQuery('a=1\r\nX: y'), 'string');
  t.type(checkQuery('a=\u00e9'), 'string');
  t.type(checkQuery('a=1#x'), 'string');
  t.type(checkQuery('a= b'), 'string');
});

t.test('normalising is idempotent', async (t) => {
  for (const p of ['/%61/%2e%2e/b//c/', '/a%2fb/%25/x', '/./././', '/a/b/../../..', '/%7E%2e']) {
    const once = norm(p);
    t.ok(once.ok);
    if (!once.ok) continue;
    const twice = norm(once.path);
    t.ok(twice.ok && twice.path === once.path, `${p} → ${once.path}`);
  }
});
