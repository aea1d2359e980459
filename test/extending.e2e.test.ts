// A policy from a test fixture folder (test/fixtures/policies/stamp), loaded with
// `gateway --policy`, exactly as docs/extending.md describes: its route key joins the
// config schema, its asynchronous onRequest holds a body and answers or continues, its
// onResponse edits the upstream answer, its onLog runs per request — on both engines and
// in every front-end thread.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { CLI, ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { startUpstream } from './helpers/upstream.js';
import { request } from './helpers/client.js';

const POLICY = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'policies', 'stamp', 'index.js');

const routes = (url: string) => ({
  upstreams: { up: { targets: [{ url }] } },
  routes: [
    { name: 'stamped', match: { prefix: '/stamped' }, upstream: 'up', stamp: { tag: 'blue', refuseHeader: 'x-refuse' }, responseHeaders: { add: { 'x-route': 'stamped' } } },
    { name: 'plain', match: { prefix: '/plain' }, upstream: 'up' },
  ],
});

for (const engine of ENGINES) {
  for (const workers of engine === 'uws' ? [1, 2] : [1]) {
    t.test(`${engine} engine, ${workers} thread(s)`, async (t) => {
      const up = await startUpstream();
      const gw = await startGatewayProcess({ ...routes(up.url), threads: workers }, engine, {}, ['--policy', POLICY]);
      t.teardown(async () => { await gw.stop(); await up.close(); });

      // several requests: with 2 threads the kernel spreads connections over both
      for (let i = 0; i < 6; i++) {
        const body = 'x'.repeat(100_000); // arrives while the policy's check is pending
        const r = await request(`${gw.url}/stamped/${i}`, { method: 'POST', body, headers: { 'content-type': 'text/plain' } });
        t.equal(r.status, 200, `request ${i} passed`);
        t.equal(r.headers['x-stamp-status'], '200', 'onResponse saw the upstream status');
        t.equal(r.headers['x-route'], 'stamped', 'the built-in headers policy still runs');
        t.equal(r.json.headers['x-stamp'], 'blue', 'onRequest added an upstream header');
        t.equal(r.json.bodyBytes, 100_000, 'the body held during the asynchronous hook arrived whole');
      }

      const before = up.seen.length;
      const refused = await request(`${gw.url}/stamped/x`, { headers: { 'x-refuse': '1' } });
      t.equal(refused.status, 403);
      t.equal(refused.json.error.code, 'forbidden');
      t.match(refused.json.error.message, /stamp policy/);
      t.equal(up.seen.length, before, 'a refused request is not forwarded');

      const plain = await request(`${gw.url}/plain/1`);
      t.equal(plain.status, 200);
      t.equal(plain.headers['x-stamp-status'], undefined, 'a route without the key does not run the policy');
      t.equal(plain.json.headers['x-stamp'], undefined);

      await new Promise((r) => setTimeout(r, 100));
      const logged = gw.output().split('\n').filter((l) => l.includes('"stamp finished"'));
      t.equal(logged.length, 7, 'onLog ran once per request of the stamped route');
    });
  }
}

t.test('the policy\'s schema fragment and checks are part of the config contract', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-ext-'));
  const file = join(dir, 'gateway.yaml');
  const validate = (cfg: unknown, withPolicy: boolean) => {
    writeFileSync(file, stringify(cfg));
    try {
      return { code: 0, out: execFileSync(process.execPath, [CLI, 'validate', file, ...(withPolicy ? ['--policy', POLICY] : [])], { encoding: 'utf8', stdio: 'pipe' }) };
    } catch (e) {
      const err = e as { status: number; stderr: string };
      return { code: err.status, out: err.stderr };
    }
  };
  const good = routes('http://127.0.0.1:1');
  t.equal(validate(good, true).code, 0, 'valid with the policy loaded');
  const without = validate(good, false);
  t.equal(without.code, 1);
  t.match(without.out, /routes\[0\]: unknown key "stamp"/, 'without the policy its key is unknown');
  const bad = routes('http://127.0.0.1:1');
  (bad.routes[0] as Record<string, unknown>).stamp = { tag: 'not valid!', refuseHeader: 'host', extra: 1 };
  const r = validate(bad, true);
  t.equal(r.code, 1);
  t.match(r.out, /routes\[0\]\.stamp\.tag: must match pattern/);
  t.match(r.out, /routes\[0\]\.stamp: unknown key "extra"/);
  const missing = validate({ ...good, routes: [{ ...good.routes[0], stamp: {} }] }, true);
  t.match(missing.out, /routes\[0\]\.stamp: missing required key "tag"/);
  const semantic = routes('http://127.0.0.1:1');
  (semantic.routes[0] as Record<string, unknown>).stamp = { tag: 'ok', refuseHeader: 'host' };
  t.match(validate(semantic, true).out, /routes\[0\]\.stamp\.refuseHeader: every request has a host/, 'the policy\'s semantic check runs');
});

t.test('a policy module that cannot be loaded stops the gateway with the reason', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-ext-'));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, stringify(routes('http://127.0.0.1:1')));
  const run = (policy: string) => spawnSync(process.execPath, [CLI, 'validate', file, '--policy', policy], { encoding: 'utf8', timeout: 10_000 });
  const missing = run(join(dir, 'no-such-policy.js'));
  t.equal(missing.status, 1);
  t.match(missing.stderr, /cannot load a policy module: .*no-such-policy\.js/);
  const notAFactory = run(join(dirname(POLICY), '..', '..', '..', 'helpers', 'upstream.js'));
  t.equal(notAFactory.status, 1);
  t.match(notAFactory.stderr, /the default export is not a policy factory/);
  t.notMatch(missing.stderr + notAFactory.stderr, /\n\s+at /, 'no stack trace');
});
