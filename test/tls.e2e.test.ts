// TLS termination (two certificates chosen by SNI, TLS 1.2+ only), the HTTP → HTTPS
// redirect listener, HTTPS upstreams with certificate verification, and removal of
// Server/X-Powered-By, on both engines, checked with real TLS clients.
import t from 'tap';
import tls from 'node:tls';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { startUpstream } from './helpers/upstream.js';
import { request, type Reply } from './helpers/client.js';
import { makeCerts } from './helpers/certs.js';
import { offerSuites, SUITES } from './helpers/tls-hello.js';

const certs = makeCerts([
  { name: 'a.example', san: 'DNS:a.example' },
  { name: 'b.example', san: 'DNS:b.example' },
  { name: 'upstream', san: 'DNS:localhost,IP:127.0.0.1' },
  { name: 'rsa.example', san: 'DNS:rsa.example', rsa: true },
]);

/** OpenSSL's refusals of a protocol version or of every offered suite (server alerts). */
const REFUSED_VERSION = /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|WRONG_VERSION_NUMBER/;

function handshake(port: number, servername: string | undefined, opts: tls.ConnectionOptions = {}): Promise<{ cn?: string; protocol?: string | null; authorized?: boolean; error?: string }> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ca: certs.ca, ...opts }, () => {
      const info = { cn: String(s.getPeerCertificate().subject?.CN), protocol: s.getProtocol(), authorized: s.authorized };
      s.end();
      resolve(info);
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
  });
}

function httpsGet(port: number, path: string, servername: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, servername, ca: certs.ca, agent: false, headers: { host: servername, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        let json: unknown;
        try { json = JSON.parse(body); } catch { json = undefined; }
        resolve({ status: res.statusCode!, headers: res.headers, body, json });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('TLS', async (t) => {
  const plain = await startUpstream((req, res) => {
    const text = JSON.stringify({ url: req.url, headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json', server: 'Apache/2.4.1 (Unix)', 'x-powered-by': 'PHP/5.2', 'content-length': Buffer.byteLength(text) }).end(text);
  });
  const secureUp = https.createServer({ cert: readFileSync(certs.leaf.upstream!.cert), key: readFileSync(certs.leaf.upstream!.key) }, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ secure: true, url: req.url }));
  });
  await new Promise<void>((r) => secureUp.listen(0, '127.0.0.1', r));
  const securePort = (secureUp.address() as { port: number }).port;
  t.teardown(async () => { await plain.close(); secureUp.closeAllConnections(); secureUp.close(); });

  for (const engine of ENGINES) {
    await t.test(`${engine} engine`, async (t) => {
      const gw = await startGatewayProcess({
        listen: {
          host: '127.0.0.1', port: 0,
          tls: { certs: [{ ...certs.leaf['a.example'], serverNames: ['a.example'] }, { ...certs.leaf['b.example'], serverNames: ['b.example'] }] },
          redirectHttp: { port: 0 },
        },
        responseHeaders: { remove: ['server', 'x-powered-by'] },
        upstreams: {
          plain: { targets: [{ url: plain.url }] },
          verified: { targets: [{ url: `https://127.0.0.1:${securePort}` }], tls: { caFile: certs.caFile } },
          named: { targets: [{ url: `https://localhost:${securePort}` }], tls: { caFile: certs.caFile } },
          untrusted: { targets: [{ url: `https://127.0.0.1:${securePort}` }] },
          skip: { targets: [{ url: `https://127.0.0.1:${securePort}` }], tls: { insecureSkipVerify: true } },
          // trusted CA, but the certificate is for localhost/127.0.0.1, not for this name
          wrongName: { targets: [{ url: `https://127.0.0.1:${securePort}` }], tls: { caFile: certs.caFile, serverName: 'b.example' } },
        },
        routes: [
          { match: { prefix: '/verified' }, upstream: 'verified' },
          { match: { prefix: '/named' }, upstream: 'named' },
          { match: { prefix: '/untrusted' }, upstream: 'untrusted', retry: { attempts: 0 } },
          { match: { prefix: '/skip' }, upstream: 'skip' },
          { match: { prefix: '/wrong-name' }, upstream: 'wrongName', retry: { attempts: 0 } },
          { match: { prefix: '/' }, upstream: 'plain' },
        ],
      }, engine);
      t.teardown(() => gw.stop());

      await t.test('SNI picks the certificate; unknown and missing names get the default', async (t) => {
        const a = await handshake(gw.port, 'a.example');
        t.equal(a.cn, 'a.example');
        t.equal(a.authorized, true, 'chain verifies against the test CA');
        const b = await handshake(gw.port, 'b.example');
        t.equal(b.cn, 'b.example');
        t.equal(b.authorized, true);
        t.equal((await handshake(gw.port, 'c.example', { rejectUnauthorized: false })).cn, 'a.example');
        t.equal((await handshake(gw.port, undefined, { rejectUnauthorized: false })).cn, 'a.example');
      });

      await t.test('TLS 1.2 and 1.3 are accepted, 1.0 and 1.1 refused', async (t) => {
        t.equal((await handshake(gw.port, 'a.example', { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' })).protocol, 'TLSv1.3');
        t.equal((await handshake(gw.port, 'a.example', { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2');
        for (const v of ['TLSv1', 'TLSv1.1'] as const) {
          const old = await handshake(gw.port, 'a.example', { minVersion: v, maxVersion: v, ciphers: 'DEFAULT@SECLEVEL=0' });
          t.match(old.error ?? '', REFUSED_VERSION, `${v} refused by the server (${old.error})`);
        }
      });

      await t.test('HTTPS requests are proxied with X-Forwarded-Proto https; Server and X-Powered-By removed', async (t) => {
        const r = await httpsGet(gw.port, '/hello?x=1', 'b.example');
        t.equal(r.status, 200);
        t.equal(r.json.url, '/hello?x=1');
        t.equal(r.json.headers['x-forwarded-proto'], 'https');
        t.equal(r.headers['x-powered-by'], undefined);
        t.not(r.headers.server, 'Apache/2.4.1 (Unix)');
      });

      await t.test('the redirect listener answers 308 to the https URL', async (t) => {
        const port = gw.info.redirectPort as number;
        t.ok(port > 0, 'redirect listener port is logged');
        const r = await request(`http://127.0.0.1:${port}/some/path?q=1`, { method: 'POST', headers: { host: 'a.example:80' } });
        t.equal(r.status, 308);
        t.equal(r.headers.location, `https://a.example:${gw.port}/some/path?q=1`);
      });

      await t.test('HTTPS upstreams: verified with the configured CA, refused when untrusted, skipped only when asked', async (t) => {
        const v = await httpsGet(gw.port, '/verified', 'a.example');
        t.equal(v.status, 200);
        t.equal(v.json.secure, true);
        t.equal((await httpsGet(gw.port, '/named', 'a.example')).status, 200, 'by host name (SNI and SAN)');
        const u = await httpsGet(gw.port, '/untrusted', 'a.example');
        t.equal(u.status, 502, 'self-signed chain not in the system CAs');
        t.equal(u.json.error.message, 'upstream TLS handshake failed');
        t.notMatch(u.body, /127\.0\.0\.1|at .*\.js/, 'no internal address or stack in the error');
        t.equal((await httpsGet(gw.port, '/skip', 'a.example')).status, 200, 'insecureSkipVerify');
        const wrong = await httpsGet(gw.port, '/wrong-name', 'a.example');
        t.equal(wrong.status, 502, 'a trusted certificate for another name is refused');
        t.equal(wrong.json.error.message, 'upstream TLS handshake failed');
      });
    });
  }
});

t.test('TLS policy: Mozilla intermediate suites only, session resumption', async (t) => {
  // A raw ClientHello offers exactly one suite: this machine's OpenSSL cannot offer 3DES itself.
  const weak = ['TLS_RSA_WITH_3DES_EDE_CBC_SHA', 'TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA', 'TLS_RSA_WITH_AES_256_CBC_SHA', 'TLS_RSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA'] as const;
  // Control: a server that accepts every suite answers these same hellos with a ServerHello.
  const control = tls.createServer({ cert: readFileSync(certs.leaf['rsa.example']!.cert), key: readFileSync(certs.leaf['rsa.example']!.key), ciphers: 'ALL:@SECLEVEL=0' }, (c) => c.end());
  await new Promise<void>((r) => control.listen(0, '127.0.0.1', r));
  t.teardown(() => control.close());
  const controlPort = (control.address() as { port: number }).port;
  for (const name of weak.filter((n) => !n.includes('3DES'))) {
    t.equal(await offerSuites(controlPort, [SUITES[name]], 'rsa.example'), 'server-hello', `control: a permissive server takes ${name}`);
  }
  for (const engine of ENGINES) {
    await t.test(`${engine} engine`, async (t) => {
      const up = await startUpstream();
      const gw = await startGatewayProcess({
        listen: { host: '127.0.0.1', port: 0, tls: { cert: certs.leaf['rsa.example']!.cert, key: certs.leaf['rsa.example']!.key } },
        upstreams: { up: { targets: [{ url: up.url }] } },
        routes: [{ match: { prefix: '/' }, upstream: 'up' }],
      }, engine);
      t.teardown(async () => { await gw.stop(); await up.close(); });
      for (const name of weak) {
        t.equal(await offerSuites(gw.port, [SUITES[name]], 'rsa.example'), 'alert', `${name}: refused with an alert`);
      }
      for (const name of ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'] as const) {
        t.equal(await offerSuites(gw.port, [SUITES[name]], 'rsa.example'), 'server-hello', `${name}: accepted`);
      }
      const good = await handshake(gw.port, 'rsa.example', { maxVersion: 'TLSv1.2' });
      t.equal(good.protocol, 'TLSv1.2', 'a real TLS 1.2 client connects');

      for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
        const first = await new Promise<{ session?: Buffer; reused: boolean }>((resolve) => {
          let session: Buffer | undefined;
          const s = tls.connect({ host: '127.0.0.1', port: gw.port, servername: 'rsa.example', ca: certs.ca, minVersion: version, maxVersion: version }, () => {
            s.write('GET / HTTP/1.1\r\nHost: rsa.example\r\nConnection: close\r\n\r\n');
          });
          s.on('session', (sess: Buffer) => { session = sess; });
          s.on('data', () => undefined);
          s.on('close', () => resolve({ session, reused: false }));
          s.on('error', () => resolve({ session, reused: false }));
        });
        t.ok(first.session, `${version}: the server gave a session (ticket or id)`);
        const second = await new Promise<boolean>((resolve) => {
          const s = tls.connect({ host: '127.0.0.1', port: gw.port, servername: 'rsa.example', ca: certs.ca, minVersion: version, maxVersion: version, session: first.session }, () => {
            const reused = s.isSessionReused();
            s.end();
            resolve(reused);
          });
          s.on('error', () => resolve(false));
        });
        t.equal(second, true, `${version}: the second connection resumed the session`);
      }
    });
  }
});
