// Graceful shutdown, reload (admin API and SIGHUP), failed reloads, and refusing the uWS
// JS fallback: driven against the real gateway process.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { stringify } from 'yaml';
import { ENGINES, CLI, startGatewayProcess } from './helpers/gateway-process.js';
import { startUpstream } from './helpers/upstream.js';
import { request } from './helpers/client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const engine of ENGINES) {
  t.test(`${engine} engine`, async (t) => {
    const a = await startUpstream((req, res) => {
      const delay = req.url?.includes('/slow') ? 800 : 0;
      setTimeout(() => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(`a:${req.url}`); }, delay);
    });
    const b = await startUpstream((req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(`b:${req.url}`); });
    t.teardown(async () => { await a.close(); await b.close(); });
    const base = {
      upstreams: { a: { targets: [{ url: a.url }] }, b: { targets: [{ url: b.url }] } },
      routes: [{ name: 'one', match: { prefix: '/one' }, upstream: 'a' }],
    };

    await t.test('SIGTERM: stops accepting, finishes in-flight requests, exits 0', async (t) => {
      const gw = await startGatewayProcess({ ...base, limits: { shutdownTimeoutMs: 5000 } }, engine);
      const inflight = request(`${gw.url}/one/slow`);
      await sleep(200);
      const exit = gw.stop('SIGTERM');
      const r = await inflight;
      t.equal(r.status, 200, 'the in-flight request completed');
      t.equal(r.body, 'a:/one/slow');
      t.equal(await exit, 0, 'exit code 0');
      await t.rejects(request(`${gw.url}/one/x`), 'no longer accepting');
    });

    await t.test('SIGTERM: requests still waiting at the deadline get 503, exit is still 0', async (t) => {
      const gw = await startGatewayProcess({ ...base, limits: { shutdownTimeoutMs: 200 } }, engine);
      const inflight = request(`${gw.url}/one/slow`);
      await sleep(100);
      const started = Date.now();
      t.equal(await gw.stop('SIGTERM'), 0);
      t.ok(Date.now() - started < 2000, 'exited soon after the deadline');
      const r = await inflight;
      t.equal(r.status, 503);
      t.equal(r.json.error.code, 'service_unavailable');
      t.equal(r.json.error.message, 'the gateway is shutting down');
    });

    await t.test('POST /admin/reload swaps the config; in-flight requests finish on the old one', async (t) => {
      const gw = await startGatewayProcess(base, engine);
      t.teardown(() => gw.stop());
      t.equal((await request(`${gw.url}/two/x`)).status, 404);
      const slow = request(`${gw.url}/one/slow`);
      await sleep(100);
      const next = { ...base, routes: [{ name: 'two', match: { prefix: '/two' }, upstream: 'b' }] };
      const r = await request(`${gw.adminUrl}/admin/reload`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: stringify(next) });
      t.equal(r.status, 200);
      t.same(r.json, { reloaded: true, routes: 1 });
      t.equal((await request(`${gw.url}/two/x`)).body, 'b:/two/x', 'new route live');
      t.equal((await request(`${gw.url}/one/x`)).status, 404, 'old route gone');
      const old = await slow;
      t.equal(old.status, 200, 'the request started before the reload finished on the old table');
      t.equal(old.body, 'a:/one/slow');
    });

    await t.test('a failed reload keeps the running config and lists every problem', async (t) => {
      const gw = await startGatewayProcess(base, engine);
      t.teardown(() => gw.stop());
      const bad = { upstreams: base.upstreams, routes: [{ match: { prefix: '/x' }, upstream: 'nope' }, { match: { path: 'rel' }, upstream: 'a', extra: 1 }] };
      const r = await request(`${gw.adminUrl}/admin/reload`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: stringify(bad) });
      t.equal(r.status, 400);
      t.equal(r.json.error.code, 'invalid_config');
      t.ok(r.json.error.problems.includes('routes[1]: unknown key "extra"'), JSON.stringify(r.json.error.problems));
      t.ok(r.json.error.problems.includes('routes[1].match.path: must match pattern "^/"'));
      t.equal((await request(`${gw.url}/one/x`)).body, 'a:/one/x', 'old config still serves');
      const syntax = await request(`${gw.adminUrl}/admin/reload`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: 'routes: [' });
      t.equal(syntax.status, 400);
      t.equal((await request(`${gw.adminUrl}/admin/reload`)).status, 405, 'GET on reload: 405');
    });

    await t.test('SIGHUP re-reads the config file; a broken file is refused', async (t) => {
      const gw = await startGatewayProcess(base, engine);
      t.teardown(() => gw.stop());
      writeFileSync(gw.configFile, stringify({ ...base, engine, listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, routes: [{ match: { prefix: '/hup' }, upstream: 'b' }] }));
      gw.proc.kill('SIGHUP');
      let body = '';
      for (let i = 0; i < 50 && body !== 'b:/hup/1'; i++) { await sleep(50); body = (await request(`${gw.url}/hup/1`)).body; }
      t.equal(body, 'b:/hup/1', 'reloaded from the file');
      writeFileSync(gw.configFile, 'routes: [ { match: { path: nope } } ]');
      gw.proc.kill('SIGHUP');
      await sleep(300);
      t.equal((await request(`${gw.url}/hup/1`)).body, 'b:/hup/1', 'still serving the last good config');
      t.match(gw.output(), /reload failed; keeping the running config/);
      t.match(gw.output(), /routes\[0\]: missing required key \\"upstream\\"/);
    });
  });
}

t.test('the uws engine refuses to run on the JS fallback', async (t) => {
  const file = `/tmp/gw-fallback-${process.pid}.yaml`;
  writeFileSync(file, stringify({ engine: 'uws', listen: { host: '127.0.0.1', port: 0 }, admin: { enabled: false }, upstreams: { a: { targets: [{ url: 'http://127.0.0.1:1' }] } }, routes: [{ match: { prefix: '/' }, upstream: 'a' }] }));
  const r = spawnSync(process.execPath, [CLI, '--config', file], { encoding: 'utf8', env: { ...process.env, UWS_USE_FALLBACK: '1' }, timeout: 10_000 });
  t.equal(r.status, 1);
  t.match(r.stderr, /Refusing to run the uws engine on its slow JS fallback/);
  t.match(r.stderr, /engine: node/);
});
