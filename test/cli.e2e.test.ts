// The command line over the config: --engine, --threads (and its old name --workers), --port;
// the engine and thread count that answer are the ones asked for (the listening line, the
// admin health endpoint, and the server's own behaviour: node answers HTTP/1.0, the uws
// build does not); bad flags exit 2 with the usage.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLI, startGatewayProcess } from './helpers/gateway-process.js';
import { startUpstream, freePort } from './helpers/upstream.js';
import { rawExchange, request } from './helpers/client.js';

t.test('--engine and --threads override the config', async (t) => {
  const up = await startUpstream();
  t.teardown(() => up.close());
  const cfg = { upstreams: { up: { targets: [{ url: up.url }] } }, routes: [{ match: { prefix: '/' }, upstream: 'up' }] };

  // the helper writes engine: uws and threads: 1 into the file; the flags must win
  const node = await startGatewayProcess(cfg, 'uws', {}, ['--engine', 'node']).catch((e: Error) => e);
  t.match(String(node), /asked for the uws engine, the gateway runs node/, '--engine node wins over the file');

  const threaded = await startGatewayProcess(cfg, 'uws', {}, ['--threads', '2']);
  t.teardown(() => threaded.stop());
  t.equal(threaded.info.threads, 2, 'the listening line reports 2 threads');
  const health = await request(`${threaded.adminUrl}/admin/health`);
  t.equal(health.json.threads, 2, 'so does /admin/health');
  t.equal((await request(`${threaded.url}/x`)).status, 200);

  const old = await startGatewayProcess(cfg, 'uws', {}, ['--workers', '2']);
  t.teardown(() => old.stop());
  t.equal(old.info.threads, 2, '--workers is still accepted as the old name of --threads');

  const port = await freePort();
  const nodeEngine = await startGatewayProcess({ ...cfg, engine: 'uws' }, 'node', {}, ['--port', String(port)]);
  t.teardown(() => nodeEngine.stop());
  t.equal(nodeEngine.port, port, '--port wins over listen.port');
  const r = await rawExchange(nodeEngine.port, 'GET /x HTTP/1.0\r\n\r\n');
  t.match(r.text, /^HTTP\/1\.1 200/, 'the node engine answers HTTP/1.0 (the uws build would not): it is the engine serving');
});

t.test('bad flags exit 2 with the usage', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-cli-'));
  const file = join(dir, 'g.yaml');
  writeFileSync(file, stringify({ upstreams: { a: { targets: [{ url: 'http://127.0.0.1:1' }] } }, routes: [{ match: { prefix: '/' }, upstream: 'a' }] }));
  for (const [args, message] of [
    [['--engine', 'fast'], /--engine must be uws or node/],
    [['--threads', '0'], /--threads must be 1\.\.256/],
    [['--threads', 'two'], /--threads must be 1\.\.256/],
    [['--port', '70000'], /--port must be 0\.\.65535/],
    [['--nope'], /Unknown option/],
  ] as const) {
    const r = spawnSync(process.execPath, [CLI, '--config', file, ...args], { encoding: 'utf8', timeout: 10_000 });
    t.equal(r.status, 2, args.join(' '));
    t.match(r.stderr, message);
  }
});
