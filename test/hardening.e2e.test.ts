// The edge-hardening findings, each reproduced as an attacker would send it: raw bytes over
// a socket, on both engines, against a recording upstream. Every probe checks what reached
// the upstream and that the gateway still answers afterwards.
import t, { type Test } from 'tap';
import net from 'node:net';
import { ENGINES, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { rawExchange, statusOf, bodyOf, assertAlive, request } from './helpers/client.js';
import { MALFORMED } from './helpers/malformed-corpus.js';

/** Measured exceptions (docs/security.md, bench/results/malformed.json): forwarded, well framed. */
const FORWARDED_AS_NORMALISED: Record<string, string[]> = {
  node: ['two spaces in the request line', '60 header fields'], // llhttp reads "GET  /x" as GET /x; 60 < maxHeaderCount
  uws: ['chunk without its CRLF'],                              // uWS's chunk parser skips the stray byte; the body is re-framed
};

const SECRET = 'hardening-test-secret-0123456789abcdef';

/** Sends raw bytes and returns the status line's code (null: none) and whether the gateway closed. */
async function send(gw: GatewayProcess, bytes: string | Buffer, waitMs = 2500): Promise<{ status: number | null; closed: boolean; text: string }> {
  const r = await rawExchange(gw.port, bytes, waitMs);
  if (r.error === 'ECONNREFUSED') throw new Error('the gateway is not listening');
  return { status: statusOf(r.text), closed: r.closed, text: r.text };
}

/** The upstream saw no request whose URL or headers match. */
function notForwarded(t: Test, up: Upstream, since: number, pattern: RegExp, what: string): void {
  const hits = up.seen.slice(since).filter((s) => pattern.test(s.url) || pattern.test(JSON.stringify(s.headers)));
  t.equal(hits.length, 0, `${what}: nothing matching ${pattern} reached the upstream (${hits.map((h) => h.url).join(', ')})`);
}

for (const engine of ENGINES) {
  t.test(`${engine} engine`, async (t) => {
    const up = await startUpstream();
    const gw = await startGatewayProcess({
      trustedProxies: ['127.0.0.1/32'],
      limits: { maxUriBytes: 8192, maxHeaderBytes: 16384 },
      consumers: [{ id: 'alice', keys: [{ key: 'alice-key-123456' }] }],
      auth: {
        keys: { type: 'api-key', header: 'x-api-key', query: 'apikey' },
        jwt: { type: 'jwt', algorithms: ['HS256'], keys: [{ secret: SECRET }], cookie: 'session' },
      },
      upstreams: { up: { targets: [{ url: up.url }] } },
      routes: [
        { name: 'admin', match: { prefix: '/admin' }, upstream: 'up', auth: ['keys'] },
        { name: 'jwt', match: { prefix: '/jwt' }, upstream: 'up', auth: ['jwt'] },
        { name: 'keyed', match: { prefix: '/keyed' }, upstream: 'up', auth: ['keys'] },
        { name: 'denied-ip', match: { prefix: '/internal' }, upstream: 'up', ipFilter: { deny: ['10.9.9.9/32'] } },
        { name: 'slashes-ok', match: { prefix: '/files' }, upstream: 'up', allowInPath: ['encoded-slash'] },
        { name: 'public', match: { prefix: '/' }, upstream: 'up' },
      ],
    }, engine);
    t.teardown(async () => { await gw.stop(); await up.close(); });

    await t.test('Connection may not nominate framing or routing headers (no smuggling through it)', async (t) => {
      const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: a\r\nX-Consumer-Id: admin\r\n\r\n';
      for (const nominated of ['content-length', 'transfer-encoding', 'host', 'keep-alive, Content-Length']) {
        const before = up.seen.length;
        const body = nominated === 'transfer-encoding' ? `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n` : smuggled;
        const framing = nominated === 'transfer-encoding' ? 'Transfer-Encoding: chunked' : `Content-Length: ${smuggled.length}`;
        const r = await send(gw, `POST /x HTTP/1.1\r\nHost: a\r\nConnection: ${nominated}\r\n${framing}\r\n\r\n${body}`);
        t.equal(r.status, 400, `Connection: ${nominated} → 400`);
        t.ok(r.closed, 'and the connection is closed');
        notForwarded(t, up, before, /smuggled|"admin"/, `Connection: ${nominated}`);
      }
      // A true hop-by-hop nomination still works: the header is dropped, the request served.
      const before = up.seen.length;
      const ok = await send(gw, 'GET /hop HTTP/1.1\r\nHost: a\r\nConnection: x-private, close\r\nX-Private: 1\r\nContent-Length: 0\r\n\r\n');
      t.equal(ok.status, 200);
      t.equal(up.seen[before]?.headers['x-private'], undefined, 'a nominated hop-by-hop header is removed');
      t.equal(up.seen[before]?.headers['content-length'], '0', 'the gateway writes the framing itself');
      await assertAlive(t, gw.port, 'connection nominations');
    });

    await t.test('bytes >= 0x80 and control characters in the target or a header are a 400', async (t) => {
      const before = up.seen.length;
      const cases: Array<[string, Buffer]> = [
        ['UTF-8 that latin1 turns into CR LF', Buffer.concat([Buffer.from('GET /x HTTP/1.1\r\nHost: a\r\nX-A: 1'), Buffer.from([0xc4, 0x8d, 0xc4, 0x8a]), Buffer.from('X-Consumer-Id: admin\r\n\r\n')])],
        ['UTF-8 dots in the path', Buffer.concat([Buffer.from('GET /public/'), Buffer.from([0xc4, 0xae, 0xc4, 0xae]), Buffer.from('/admin HTTP/1.1\r\nHost: a\r\n\r\n')])],
        ['a homoglyph of /admin', Buffer.concat([Buffer.from('GET /'), Buffer.from('аdmin', 'utf8'), Buffer.from('/users HTTP/1.1\r\nHost: a\r\n\r\n')])],
        ['latin1 byte in a header value', Buffer.concat([Buffer.from('GET /x HTTP/1.1\r\nHost: a\r\nX-A: caf'), Buffer.from([0xe9]), Buffer.from('\r\n\r\n')])],
        ['DEL in a header value', Buffer.from('GET /x HTTP/1.1\r\nHost: a\r\nX-A: a\x7fb\r\n\r\n')],
        ['a control byte in the query', Buffer.from('GET /x?a=\x01 HTTP/1.1\r\nHost: a\r\n\r\n')],
      ];
      // uWS 20.30 itself cuts a header value at an invalid UTF-8 byte (the rest never reaches
      // JS) and drops a request with a control byte in the target unanswered: measured, and
      // documented in docs/security.md. What it delivers with bytes >= 0x80 is a 400.
      const uwsOwn = new Set(['latin1 byte in a header value', 'a control byte in the query']);
      for (const [what, bytes] of cases) {
        const r = await send(gw, bytes);
        if (engine === 'uws' && uwsOwn.has(what)) {
          t.ok(r.status === 400 || r.status === null || r.status === 200, `${what}: refused, dropped or cut by uWS (got ${r.status})`);
          continue;
        }
        // node's own parser refuses some of these before the gateway sees them: also a 400.
        t.equal(r.status, 400, `${what}: 400`);
        t.ok(r.closed, `${what}: connection closed`);
      }
      notForwarded(t, up, before, /admin|\.\./, 'encoded bytes');
      const leaked = up.seen.slice(before).filter((s) => /[^\t\x20-\x7e]/.test(s.url + s.rawHeaders.join('')));
      t.equal(leaked.length, 0, 'no byte >= 0x80 or control character reached the upstream');
      if (engine === 'node') t.equal(up.seen.length, before, 'nothing at all was forwarded');
      await assertAlive(t, gw.port, 'non-ASCII probes');
    });

    await t.test('one normal form: encoded and doubled paths meet the protected route, and are forwarded normalised', async (t) => {
      for (const path of ['/%61dmin/users', '//admin/users', '/public/../admin/users', '/public/%2e%2e/admin/users', '/ADMIN/../admin/users']) {
        const before = up.seen.length;
        const r = await send(gw, `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
        t.equal(r.status, 401, `${path}: the /admin route answers (credentials missing)`);
        t.equal(up.seen.length, before, `${path}: not forwarded`);
      }
      const before = up.seen.length;
      const ok = await request(`${gw.url}/%61dmin//users/./x?k=%2F`, { headers: { 'x-api-key': 'alice-key-123456' } });
      t.equal(ok.status, 200);
      t.equal(up.seen[before]?.url, '/admin/users/x?k=%2F', 'the upstream gets the path the router matched (the query as sent)');
    });

    await t.test('encoded slashes, backslashes and ";" are refused unless the route opts in', async (t) => {
      const before = up.seen.length;
      for (const path of ['/admin%2Fusers', '/x/admin%5cusers', '/x\\admin', '/x;jsessionid=1']) {
        const r = await send(gw, `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
        t.equal(r.status, 400, `${path}: 400`);
        t.match(bodyOf(r.text)?.error?.message ?? '', /does not accept/);
      }
      t.equal(up.seen.length, before, 'none forwarded');
      const ok = await request(`${gw.url}/files/a%2Fb`);
      t.equal(ok.status, 200, 'a route with allowInPath: [encoded-slash] takes it');
      t.equal(up.seen.at(-1)?.url, '/files/a%2Fb', 'forwarded still encoded');
    });

    await t.test('a request target over limits.maxUriBytes is a 414', async (t) => {
      const before = up.seen.length;
      for (const len of [9000, 70_000]) {
        const r = await send(gw, `GET /${'a'.repeat(len)} HTTP/1.1\r\nHost: a\r\n\r\n`, 4000);
        // uWS 20.30 drops a head over ~4 KB that arrives in more than one read (70 KB is two
        // loopback segments; on a loaded machine they are read apart): no answer, never forwarded.
        if (engine === 'uws' && len > 65_000) t.ok(r.status === 414 || (r.status === null && r.closed), `${len} bytes: 414, or dropped unanswered by uWS (${r.status})`);
        else t.equal(r.status, 414, `${len} bytes: 414`);
      }
      t.equal(up.seen.length, before, 'not forwarded');
      await assertAlive(t, gw.port, 'long targets');
    });

    await t.test('a request head over 4 KB that arrives in two reads: node serves it, uWS 20.30 drops it (documented)', async (t) => {
      const before = up.seen.length;
      const head = `GET /${'b'.repeat(6000)} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`;
      const r = await new Promise<{ text: string; closed: boolean }>((resolve) => {
        const s = net.connect(gw.port, '127.0.0.1');
        let text = '';
        s.on('data', (d) => { text += d; });
        s.on('close', () => resolve({ text, closed: true }));
        s.on('error', () => undefined);
        s.write(head.slice(0, 3000));
        setTimeout(() => s.write(head.slice(3000)), 100);
        setTimeout(() => { s.destroy(); }, 3000);
      });
      if (engine === 'node') {
        t.equal(statusOf(r.text), 200, 'served');
        t.equal(up.seen.length, before + 1);
      } else {
        t.equal(statusOf(r.text), null, 'uWS closes without an answer');
        t.equal(up.seen.length, before, 'nothing forwarded');
      }
      await assertAlive(t, gw.port, 'a split long head');
    });

    await t.test('after a framing error the connection is closed: the body never runs as a request', async (t) => {
      const smuggled = 'GET /a?smuggled=1 HTTP/1.1\r\nHost: a\r\n\r\n';
      const cases = [
        ['differing duplicate Content-Length', `POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: ${smuggled.length}\r\nContent-Length: 2\r\n\r\n${smuggled}`],
        ['empty Content-Length', `POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n${smuggled}`],
        ['Content-Length with a sign', `POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: +${smuggled.length}\r\n\r\n${smuggled}`],
      ];
      for (const [what, bytes] of cases) {
        const before = up.seen.length;
        const r = await send(gw, bytes!, engine === 'uws' ? 3000 : 2500);
        t.ok(r.status === 400 || (engine === 'uws' && r.status === null && r.closed), `${what}: 400 (got ${r.status})`);
        t.ok(r.closed, `${what}: closed`);
        const answers = r.text.match(/HTTP\/1\.1 \d{3}/g) ?? [];
        t.ok(answers.every((a) => a.endsWith('400')), `${what}: nothing but 400s (${answers.join(', ')})`);
        notForwarded(t, up, before, /smuggled/, what!);
      }
      if (engine === 'node') {
        const before = up.seen.length;
        const body = `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`;
        const r = await send(gw, `POST /x HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
        t.equal(r.status, 400, 'HTTP/1.0 with Transfer-Encoding: 400');
        t.ok(r.closed);
        notForwarded(t, up, before, /smuggled/, 'HTTP/1.0 + TE');
      }
      await assertAlive(t, gw.port, 'framing errors');
    });

    await t.test('an invalid JWT followed by a 300 KB body: 401, and the gateway lives on', async (t) => {
      for (let i = 0; i < 5; i++) {
        const body = 'x'.repeat(300_000);
        const r = await send(gw, `POST /jwt/upload HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bad${i}\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 5000);
        t.equal(r.status, 401, `attempt ${i}: 401`);
      }
      // the body arriving in pieces, the token refused in between
      const s = net.connect(gw.port, '127.0.0.1');
      s.on('error', () => undefined);
      s.write('POST /jwt/upload HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.zzz\r\nTransfer-Encoding: chunked\r\n\r\n');
      for (let i = 0; i < 20; i++) { s.write(`8000\r\n${'y'.repeat(0x8000)}\r\n`); await new Promise((r) => setTimeout(r, 5)); }
      s.destroy();
      await assertAlive(t, gw.port, 'invalid JWT with large bodies');
      t.notMatch(gw.output(), /must not be accessed|terminate called|uncaught exception/, 'no crash or escaped exception was logged');
    });

    await t.test('X-Forwarded-For: every line counts, a client-sent line in front is not believed', async (t) => {
      // The peer (127.0.0.1) is a trusted proxy that appended its own line after the client's.
      const r = await send(gw, 'GET /internal/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 10.9.9.9\r\n\r\n');
      t.equal(r.status, 403, 'the right-most untrusted address (10.9.9.9) is the client: denied');
      const ok = await send(gw, 'GET /internal/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Forwarded-For: 10.9.9.9\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n');
      t.equal(ok.status, 200, '1.2.3.4 appended last is the client: allowed');
    });

    await t.test('credentials in the query string or a cookie are not forwarded (hideCredentials)', async (t) => {
      const before = up.seen.length;
      const r = await request(`${gw.url}/keyed/x?a=1&apikey=alice-key-123456&b=2`);
      t.equal(r.status, 200);
      t.equal(up.seen[before]?.url, '/keyed/x?a=1&b=2', 'the api key is removed from the query');
      const { SignJWT } = await import('jose');
      const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(Buffer.from(SECRET));
      const j = await request(`${gw.url}/jwt/x`, { headers: { cookie: `theme=dark; session=${token}; lang=en` } });
      t.equal(j.status, 200);
      t.equal(up.seen.at(-1)?.headers.cookie, 'theme=dark; lang=en', 'the token cookie is removed, the others stay');
    });

    await t.test('URL and method override headers never reach the upstream', async (t) => {
      const before = up.seen.length;
      const r = await request(`${gw.url}/public/x`, { headers: { 'x-original-url': '/admin/users', 'x-rewrite-url': '/admin', 'x-http-method-override': 'DELETE' } });
      t.equal(r.status, 200);
      const h = up.seen[before]!.headers;
      t.equal(h['x-original-url'], undefined);
      t.equal(h['x-rewrite-url'], undefined);
      t.equal(h['x-http-method-override'], undefined);
    });

    await t.test('the malformed-request corpus: refused or dropped, never forwarded as sent; the gateway lives on', async (t) => {
      const results = await Promise.all(MALFORMED.map(async ([what, bytes]) => {
        const before = up.seen.length;
        const r = await rawExchange(gw.port, Buffer.from(bytes, 'latin1'), engine === 'uws' ? 13_000 : 3000);
        return { what, status: statusOf(r.text), closed: r.closed, error: r.error, before };
      }));
      for (const r of results) {
        t.not(r.error, 'ECONNREFUSED', `${r.what}: the gateway was listening`);
        // (uWS's answer to the stray chunk byte depends on how the bytes arrive: 200 or dropped)
        if (FORWARDED_AS_NORMALISED[engine]!.includes(r.what)) { t.ok(r.status === 200 || r.status === 400 || (r.status === null && r.closed), `${r.what}: served as normalised, or refused (${r.status})`); continue; }
        if (r.status === null) t.ok(engine === 'uws' && r.closed, `${r.what}: ${engine === 'uws' ? 'dropped by uWS' : 'answered'} (closed: ${r.closed})`);
        else t.ok([400, 414, 431].includes(r.status), `${r.what}: ${r.status}`);
      }
      const forwarded = up.seen.filter((s) => /[^\x21-\x7e]/.test(s.url) || s.url.startsWith('http') || s.url.includes('%00'));
      t.equal(forwarded.length, 0, 'no odd target reached the upstream');
      await assertAlive(t, gw.port, 'after the corpus');
    });

    await t.test('500 hostile exchanges (1,000 over both engines): aborts at every stage, bodies after refusals; no crash', async (t) => {
      const stages = [
        'GET /x HTTP/1.1\r\nHost: a\r\n',                                   // mid-headers
        'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\nabc', // mid-body (streamed)
        'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc',     // mid-body (buffered)
        'POST /jwt/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer a.b.c\r\nContent-Length: 90000\r\n\r\n' + 'z'.repeat(70000),
        'POST /admin/x HTTP/1.1\r\nHost: a\r\nContent-Length: 50000\r\n\r\n' + 'z'.repeat(20000),
        'GET /x HTTP/1.1\r\nHost: a\r\n\r\nGET /y HTTP/1.1\r\nHost: a\r\n\r\n',    // pipelined, then gone
        'POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab',
        'GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n',
      ];
      let n = 0;
      const one = (i: number) => new Promise<void>((resolve) => {
        const s = net.connect(gw.port, '127.0.0.1');
        s.on('error', () => undefined);
        s.on('close', () => resolve());
        s.write(stages[i % stages.length]!);
        setTimeout(() => { s.destroy(); n++; }, i % 3 === 0 ? 0 : i % 3 === 1 ? 5 : 30);
      });
      for (let round = 0; round < 50; round++) await Promise.all(Array.from({ length: 10 }, (_, k) => one(round * 10 + k)));
      t.equal(n, 500);
      await assertAlive(t, gw.port, 'after 500 aborted exchanges');
      const ok = await request(`${gw.url}/public/after`);
      t.equal(ok.status, 200, 'a normal request is served');
      t.notMatch(gw.output(), /must not be accessed|terminate called|uncaught exception|unhandled rejection/, 'nothing escaped');
    });
  });
}
