// The admin API as an attack surface: a web page the operator has open can reach loopback
// (CSRF, DNS rebinding), so Host, Origin, content type and file paths are checked; a token
// guards it when asked (and is required off the loopback); secrets never leave it.
import t from 'tap';
import http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startGatewayProcess } from './helpers/gateway-process.js';
import { startUpstream } from './helpers/upstream.js';
import { parseConfig, ConfigError } from '../src/config/load.js';

interface Answer { status: number; json: any }

/** A request with exactly these headers (node's client would add Host itself otherwise). */
function admin(port: number, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: { host: `127.0.0.1:${port}`, ...opts.headers }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => { let json; try { json = JSON.parse(body); } catch { json = undefined; } resolve({ status: res.statusCode!, json }); });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

t.test('admin API without a token (loopback)', async (t) => {
  const up = await startUpstream();
  const gw = await startGatewayProcess({
    rateLimit: { redis: { url: 'redis://user:hunter2@127.0.0.1:6379' } },
    upstreams: { up: { targets: [{ url: up.url }] } },
    routes: [{ match: { prefix: '/' }, upstream: 'up', requestHeaders: { add: { authorization: 'Bearer upstream-secret', 'x-tenant': 'acme' } } }],
  }, 'node');
  t.teardown(async () => { await gw.stop(); await up.close(); });
  const port = gw.adminPort;

  await t.test('/admin/config shows no secrets (before any reload replaces this config)', async (t) => {
    const r = await admin(port, '/admin/config');
    t.equal(r.status, 200);
    const text = JSON.stringify(r.json);
    t.notMatch(text, /hunter2/, 'no password from a URL');
    t.notMatch(text, /upstream-secret/, 'no credential header value');
    t.match(text, /acme/, 'other header values stay');
  });

  await t.test('/admin/routes lists every route with its name, match and upstream', async (t) => {
    const r = await admin(port, '/admin/routes');
    t.equal(r.status, 200);
    t.same(r.json, [{ name: 'route-0', match: { prefix: '/' }, upstream: 'up' }]);
  });

  await t.test('Host must name the admin listener or localhost (DNS rebinding)', async (t) => {
    t.equal((await admin(port, '/admin/health')).status, 200, '127.0.0.1:port');
    t.equal((await admin(port, '/admin/health', { headers: { host: `localhost:${port}` } })).status, 200, 'localhost:port');
    const evil = await admin(port, '/admin/config', { headers: { host: `attacker.example:${port}` } });
    t.equal(evil.status, 421, 'a rebound name is refused');
    t.equal(evil.json.error.code, 'misdirected_request');
    t.equal((await admin(port, '/admin/health', { headers: { host: 'localhost:1' } })).status, 421, 'another port is refused');
  });

  await t.test('requests from another origin are refused (CSRF)', async (t) => {
    const cross = await admin(port, '/admin/reload', { method: 'POST', headers: { origin: 'https://attacker.example', 'content-type': 'application/json' }, body: '{"routes":[]}' });
    t.equal(cross.status, 403);
    t.equal((await admin(port, '/admin/config', { headers: { origin: 'http://attacker.example' } })).status, 403, 'reads too');
    t.equal((await admin(port, '/admin/health', { headers: { origin: `http://127.0.0.1:${port}` } })).status, 200, 'its own origin passes');
  });

  await t.test('a reload body must be JSON or YAML (no form posts)', async (t) => {
    const cfg = stringify({ engine: 'node', threads: 1, listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, upstreams: { up: { targets: [{ url: up.url }] } }, routes: [{ match: { prefix: '/' }, upstream: 'up' }] });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const r = await admin(port, '/admin/reload', { method: 'POST', headers: { 'content-type': type }, body: cfg });
      t.equal(r.status, 415, `${type}: 415`);
    }
    t.equal((await admin(port, '/admin/reload', { method: 'POST', body: cfg })).status, 415, 'no content type: 415');
    const ok = await admin(port, '/admin/reload', { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: cfg });
    t.equal(ok.status, 200, 'application/yaml reloads');
  });

  await t.test('a posted config may name files only inside the config directory', async (t) => {
    const base = { engine: 'node', threads: 1, listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } };
    const probes: Array<[string, Record<string, unknown>]> = [
      ['tls.caFile', { upstreams: { up: { targets: [{ url: 'https://127.0.0.1:1' }], tls: { caFile: '/etc/passwd' } } }, routes: [{ match: { prefix: '/' }, upstream: 'up' }] }],
      ['validate $ref', { upstreams: { up: { targets: [{ url: up.url }] } }, routes: [{ match: { prefix: '/' }, upstream: 'up', validate: { body: { $ref: '../../../../etc/passwd' } } }] }],
      ['jwt publicKeyFile', { auth: { j: { type: 'jwt', algorithms: ['RS256'], keys: [{ publicKeyFile: '/etc/ssl/certs/ca-certificates.crt' }] } }, upstreams: { up: { targets: [{ url: up.url }] } }, routes: [{ match: { prefix: '/' }, upstream: 'up' }] }],
    ];
    for (const [what, cfg] of probes) {
      const r = await admin(port, '/admin/reload', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...base, ...cfg }) });
      t.equal(r.status, 400, `${what}: refused`);
      t.ok(r.json.error.problems.some((p: string) => p.includes('outside the config directory')), `${what}: ${JSON.stringify(r.json.error.problems)}`);
    }
  });

});

t.test('admin API with a token', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-admin-'));
  writeFileSync(join(dir, 'admin.token'), 'a-long-admin-token-0123456789\n');
  const up = await startUpstream();
  const gw = await startGatewayProcess({
    admin: { host: '127.0.0.1', port: 0, tokenFile: join(dir, 'admin.token') },
    upstreams: { up: { targets: [{ url: up.url }] } },
    routes: [{ match: { prefix: '/' }, upstream: 'up' }],
  }, 'node');
  t.teardown(async () => { await gw.stop(); await up.close(); });
  t.equal((await admin(gw.adminPort, '/admin/health')).status, 401, 'no token: 401');
  t.equal((await admin(gw.adminPort, '/admin/health', { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status, 401, 'a wrong token: 401');
  const ok = await admin(gw.adminPort, '/admin/config', { headers: { authorization: 'Bearer a-long-admin-token-0123456789' } });
  t.equal(ok.status, 200, 'the token from the file: 200');
  t.notMatch(JSON.stringify(ok.json), /a-long-admin-token/, 'the token itself is redacted');
});

t.test('off the loopback the admin API needs a token', async (t) => {
  const cfg = (admin: Record<string, unknown>) => stringify({ admin, upstreams: { up: { targets: [{ url: 'http://127.0.0.1:1' }] } }, routes: [{ match: { prefix: '/' }, upstream: 'up' }] });
  try {
    parseConfig(cfg({ host: '0.0.0.0' }));
    t.fail('accepted a public admin listener without a token');
  } catch (e) {
    t.ok(e instanceof ConfigError);
    t.match((e as ConfigError).problems.join('\n'), /admin\.host: "0\.0\.0\.0" is not a loopback address: set admin\.token/);
  }
  t.doesNotThrow(() => parseConfig(cfg({ host: '0.0.0.0', token: 'a-long-admin-token-0123456789' })), 'with a token: accepted');
  t.doesNotThrow(() => parseConfig(cfg({ host: '127.0.0.2' })), 'any 127/8 address is loopback');
});
