// Everything that grows with client input has a bound, and each bound is hit here: bodies
// read whole, the upstream connection queue, client connections, gRPC response messages,
// JWKS fetches; plus the breaker's half-open probes that a client abort must give back.
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { generateKeyPair, exportJWK, SignJWT } from 'jose';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { startUpstream } from './helpers/upstream.js';
import { request, assertAlive } from './helpers/client.js';
import { startCatalogServer, PROTO_DIR } from '../src/demo/catalog-service.js';

function post(url: string, body: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-length': String(body.length), 'content-type': 'application/json', ...headers }, agent: false }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', () => resolve({ status: -1, body: '' }));
    req.end(body);
  });
}

for (const engine of ENGINES) {
  t.test(`${engine} engine`, async (t) => {
    const held: http.ServerResponse[] = [];
    const up = await startUpstream((req, res, body) => {
      if (req.url?.includes('/hang')) { held.push(res); return; }
      if (req.url?.includes('/reset')) { req.socket.destroy(); return; }
      const text = JSON.stringify({ bytes: body.length });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
    });
    const gw = await startGatewayProcess({
      limits: { maxBodyBytes: 8_000_000, maxBufferedBodyBytes: 100_000, maxConnections: 20 },
      upstreams: {
        up: { targets: [{ url: up.url }] },
        narrow: { targets: [{ url: up.url }], connections: 1, maxQueue: 2 },
        fragile: { targets: [{ url: up.url }], outlier: { enabled: false }, breaker: { failureRatio: 0.5, minRequests: 2, windowMs: 10_000, openMs: 300, halfOpenRequests: 1, halfOpenTimeoutMs: 60_000 } },
      },
      routes: [
        { match: { prefix: '/validated' }, upstream: 'up', validate: { body: { type: 'object' } } },
        { match: { prefix: '/buffered' }, upstream: 'up', retry: { attempts: 1, on: ['connect-failure'], bufferBodyBytes: 1_000_000 } },
        { match: { prefix: '/narrow' }, upstream: 'narrow', rewrite: '/hang' },
        { match: { prefix: '/fragile' }, upstream: 'fragile', timeoutMs: 60_000, retry: { attempts: 0 } },
        { match: { prefix: '/' }, upstream: 'up' },
      ],
    }, engine);
    t.teardown(async () => { for (const r of held) r.destroy(); await gw.stop(); await up.close(); });

    await t.test('bodies read whole are bounded by maxBufferedBodyBytes; streamed ones by maxBodyBytes', async (t) => {
      const big = Buffer.from(JSON.stringify({ pad: 'x'.repeat(150_000) }));
      const v = await post(`${gw.url}/validated`, big);
      t.equal(v.status, 413, 'validation reads at most 100 KB');
      t.match(v.body, /exceeds 100000 bytes/);
      const b = await post(`${gw.url}/buffered`, big);
      t.equal(b.status, 200, 'over the buffer limit a replayable body is streamed instead of read whole');
      t.equal(JSON.parse(b.body).bytes, big.length);
      const s = await post(`${gw.url}/stream`, Buffer.alloc(2_000_000, 'a'));
      t.equal(s.status, 200, 'a streamed body may be larger');
    });

    await t.test('the upstream connection queue is bounded: 503 at once when full', async (t) => {
      const pending = Array.from({ length: 6 }, () => request(`${gw.url}/narrow/x`).then((r) => r, () => null));
      await new Promise((r) => setTimeout(r, 500));
      for (const r of held.splice(0)) r.writeHead(200, { 'content-length': '2' }).end('ok');
      await new Promise((r) => setTimeout(r, 100));
      for (const r of held.splice(0)) r.writeHead(200, { 'content-length': '2' }).end('ok');
      await new Promise((r) => setTimeout(r, 100));
      for (const r of held.splice(0)) r.writeHead(200, { 'content-length': '2' }).end('ok');
      const answers = await Promise.all(pending);
      const codes = answers.map((a) => a?.status);
      t.equal(codes.filter((c) => c === 503).length, 3, `1 on the connection, 2 queued, 3 refused (${codes})`);
      t.equal(codes.filter((c) => c === 200).length, 3, 'the queued ones are served once the connection is free (with their Host header)');
      t.ok(answers.filter((a) => a?.status === 503).every((a) => a!.json.error.message.includes('queue full')), 'named as a full queue');
      t.same([...new Set(answers.filter((a) => a?.status === 503).map((a) => a!.json.error.code))], ['upstream_saturated'], 'with its own stable code');
    });

    await t.test('a half-open probe whose client left gives its slot back', async (t) => {
      // two failures open the breaker (the upstream resets the connection)
      for (let i = 0; i < 2; i++) await rawReset(gw.port, '/fragile/reset');
      t.equal((await request(`${gw.url}/fragile/x`)).status, 503, 'open');
      await new Promise((r) => setTimeout(r, 350));
      // the probe hangs at the upstream and its client gives up
      const s = net.connect(gw.port, '127.0.0.1');
      s.on('error', () => undefined);
      s.write('GET /fragile/hang HTTP/1.1\r\nHost: a\r\n\r\n');
      await new Promise((r) => setTimeout(r, 200));
      s.destroy();
      await new Promise((r) => setTimeout(r, 200));
      const next = await request(`${gw.url}/fragile/ok`);
      t.equal(next.status, 200, 'the next request gets the probe slot, succeeds and closes the breaker');
      for (const r of held.splice(0)) r.destroy();
    });

    await t.test('client connections are capped (limits.maxConnections)', async (t) => {
      const sockets: net.Socket[] = [];
      // node counts connections; uws (no connection events) counts requests in progress
      for (let i = 0; i < 30; i++) {
        const s = net.connect(gw.port, '127.0.0.1');
        s.on('error', () => undefined);
        sockets.push(s);
        if (engine === 'uws') s.write('GET /hang/x HTTP/1.1\r\nHost: a\r\n\r\n');
      }
      await new Promise((r) => setTimeout(r, 600));
      const over = await new Promise<string>((resolve) => {
        const s = net.connect(gw.port, '127.0.0.1');
        let text = '';
        s.on('data', (d) => { text += d; });
        s.on('error', () => resolve(`error ${text}`));
        s.on('close', () => resolve(`closed ${text}`));
        s.write('GET /x HTTP/1.1\r\nHost: a\r\n\r\n');
        setTimeout(() => { s.destroy(); resolve(`open ${text}`); }, 2000);
      });
      if (engine === 'node') t.match(over, /^(closed|error)/, `a connection past the cap is closed (${over.slice(0, 40)})`);
      else t.match(over, /503/, `a request past the cap gets 503 (${over.slice(0, 40)})`);
      for (const s of sockets) s.destroy();
      for (const r of held.splice(0)) r.destroy();
      await new Promise((r) => setTimeout(r, 300));
      await assertAlive(t, gw.port, 'after the connection cap');
    });
  });
}

/** A request to an upstream path whose connection the upstream resets (for breaker failures). */
async function rawReset(port: number, path: string): Promise<void> {
  await request(`http://127.0.0.1:${port}${path}`).catch(() => undefined);
}

t.test('gRPC response messages are capped (transcoding.maxMessageBytes)', async (t) => {
  const grpcServer = await startCatalogServer();
  const gw = await startGatewayProcess({
    transcoding: { maxMessageBytes: 2048 },
    upstreams: { catalog: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${grpcServer.port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] } } },
    routes: [{ transcode: { upstream: 'catalog' } }],
  }, 'uws');
  t.teardown(async () => { await gw.stop(); grpcServer.close(); });
  const small = await post(`${gw.url}/v1/echo`, Buffer.from(JSON.stringify({ text: 'hi' })));
  t.equal(small.status, 200);
  const big = await post(`${gw.url}/v1/echo`, Buffer.from(JSON.stringify({ text: 'x'.repeat(5000) })));
  t.equal(big.status, 429, 'RESOURCE_EXHAUSTED');
  t.match(big.body, /over 2048 bytes/);
});

t.test('JWKS fetches: no redirects, a size limit', async (t) => {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' };
  let mode: 'redirect' | 'huge' | 'ok' = 'redirect';
  const keys = http.createServer((req, res) => {
    if (req.url === '/elsewhere') { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })); return; }
    if (mode === 'redirect') { res.writeHead(302, { location: '/elsewhere' }).end(); return; }
    if (mode === 'huge') { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk], pad: 'x'.repeat(2_000_000) })); return; }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => keys.listen(0, '127.0.0.1', r));
  const up = await startUpstream();
  const url = `http://127.0.0.1:${(keys.address() as { port: number }).port}/jwks`;
  const gw = await startGatewayProcess({
    auth: { jwt: { type: 'jwt', algorithms: ['RS256'], jwksUrl: url, requireConsumer: false, jwks: { minRefreshIntervalMs: 0 } } },
    upstreams: { up: { targets: [{ url: up.url }] } },
    routes: [{ match: { prefix: '/' }, upstream: 'up', auth: ['jwt'] }],
  }, 'node');
  t.teardown(async () => { await gw.stop(); await up.close(); keys.close(); });
  const token = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setExpirationTime('5m').sign(privateKey);
  const ask = () => request(`${gw.url}/x`, { headers: { authorization: `Bearer ${token}` } });
  t.equal((await ask()).status, 401, 'a redirect is not followed: no keys');
  mode = 'huge';
  t.equal((await ask()).status, 401, 'a 2 MB key set is refused');
  for (let i = 0; i < 40 && !/JWKS response over 1048576 bytes/.test(gw.output()); i++) await new Promise((r) => setTimeout(r, 50)); // the log is written asynchronously
  t.match(gw.output(), /JWKS response over 1048576 bytes/);
  mode = 'ok';
  t.equal((await ask()).status, 200, 'the configured URL answering properly: verified');
});
