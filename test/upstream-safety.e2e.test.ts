// What the upstream client refuses to write, and when it refuses to reuse a connection:
// never a head with control or non-latin1 characters (a JWT claim of U+010D U+010A would be
// CR LF in latin1), and never a connection whose request body was not fully written.
import t from 'tap';
import net from 'node:net';
import { SignJWT } from 'jose';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { startUpstream } from './helpers/upstream.js';
import { request } from './helpers/client.js';
import { requestHead } from '../src/upstream/http1-client.js';

const SECRET = 'upstream-safety-secret-0123456789abcdef';

t.test('unsafe heads: the client builds no head with control or non-latin1 characters', async (t) => {
  const base = { method: 'GET', path: '/x', host: 'up:80', headers: ['x-a', 'ok'], body: null, contentLength: -1 };
  t.match(requestHead(base), /^GET \/x HTTP\/1\.1\r\nhost: up:80\r\nx-a: ok\r\n\r\n$/);
  for (const [what, req] of [
    ['CR LF in a value', { ...base, headers: ['x-a', 'a\r\nx-consumer-id: admin'] }],
    ['U+010D U+010A in a value (CR LF in latin1)', { ...base, headers: ['x-a', 'a\u010d\u010ax-consumer-id: admin'] }],
    ['NUL in a value', { ...base, headers: ['x-a', 'a\u0000'] }],
    ['a space in the path', { ...base, path: '/a b' }],
    ['LF in the path', { ...base, path: '/a\nb' }],
    ['a colon in a name', { ...base, headers: ['x:a', 'v'] }],
    ['CR LF in the host', { ...base, host: 'up\r\nx: y' }],
  ] as const) t.equal(requestHead(req as never), null, what);
  t.notMatch(requestHead({ ...base, headers: ['content-length', '5', 'transfer-encoding', 'chunked', 'host', 'evil'] })!, /content-length|transfer-encoding|evil/, 'framing and Host come from the client itself');
  t.match(requestHead({ ...base, method: 'POST', contentLength: 0 })!, /content-length: 0\r\n/, 'an empty body has its length');
});

for (const engine of ENGINES) {
  t.test(`${engine} engine`, async (t) => {
    await t.test('unsafe heads: a JWT claim that latin1 would turn into CR LF is not copied into a header', async (t) => {
      const up = await startUpstream();
      const gw = await startGatewayProcess({
        auth: { jwt: { type: 'jwt', algorithms: ['HS256'], keys: [{ secret: SECRET }], claimHeaders: { name: 'x-user-name' } } },
        upstreams: { up: { targets: [{ url: up.url }] } },
        routes: [{ match: { prefix: '/' }, upstream: 'up', auth: ['jwt'] }],
      }, engine);
      t.teardown(async () => { await gw.stop(); await up.close(); });
      const token = await new SignJWT({ sub: 'alice', name: 'x\u010d\u010aX-Consumer-Id: admin' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(Buffer.from(SECRET));
      const r = await request(`${gw.url}/x`, { headers: { authorization: `Bearer ${token}` } });
      t.equal(r.status, 200);
      const seen = up.seen.at(-1)!;
      t.equal(seen.headers['x-consumer-id'], 'alice', 'the identity is the gateway\'s, not an injected one');
      t.equal(seen.headers['x-user-name'], undefined, 'the unsafe claim is not forwarded');
    });

    await t.test('early answer: a connection whose request body was not all written is not reused', async (t) => {
      const sockets: Array<{ data: string }> = [];
      const upstream = net.createServer((sock) => {
        const rec = { data: '' };
        sockets.push(rec);
        sock.on('data', (d) => {
          const before = rec.data;
          rec.data += d.toString('latin1');
          // answer each request head at once, without reading any body
          if (!before.includes('\r\n\r\n') && rec.data.includes('\r\n\r\n')) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        });
        sock.on('error', () => undefined);
      });
      await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
      const port = (upstream.address() as net.AddressInfo).port;
      const gw = await startGatewayProcess({
        upstreams: { up: { targets: [{ url: `http://127.0.0.1:${port}` }] } },
        routes: [{ match: { prefix: '/' }, upstream: 'up' }],
      }, engine);
      t.teardown(async () => { await gw.stop(); upstream.close(); });
      // a slow upload: the upstream answers after the head, the body keeps coming
      const client = net.connect(gw.port, '127.0.0.1');
      client.on('error', () => undefined);
      let answer = '';
      client.on('data', (d) => { answer += d; });
      client.write('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 300000\r\n\r\n');
      for (let i = 0; i < 10; i++) { client.write('u'.repeat(10_000)); await new Promise((r) => setTimeout(r, 30)); }
      t.match(answer, /^HTTP\/1\.1 200/, 'the early answer reached the client');
      const next = await request(`${gw.url}/after`);
      t.equal(next.status, 200);
      client.destroy();
      const withAfter = sockets.filter((s) => s.data.includes('GET /after'));
      t.equal(withAfter.length, 1);
      t.ok(withAfter[0]!.data.startsWith('GET /after'), 'the next request went out on a fresh connection, not behind the unfinished body');
    });
  });
}
