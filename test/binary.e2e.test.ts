// The single executable (npm run build:binary), copied alone into an empty directory and run
// with a PATH that has no node and no node_modules anywhere near it: it validates a config,
// serves the demo (HTTP, REST→gRPC transcoding, server streaming, an aggregate, WebSocket,
// two front-end threads and the worker pool), reloads on SIGHUP and stops on SIGTERM.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import WebSocket from 'ws';
import { buildBinary, binaryName } from '../src/binary/build-binary.js';
import { CLI, spawnGateway } from './helpers/gateway-process.js';
import { request } from './helpers/client.js';
import { startUpstream } from './helpers/upstream.js';

const BUILT = join(CLI, '..', '..', binaryName());

/** The binary `npm run build:binary` made (.ci/run builds it first), rebuilt when older than the code. */
async function binary(): Promise<string> {
  if (!existsSync(BUILT) || statSync(BUILT).mtimeMs < statSync(CLI).mtimeMs) await buildBinary();
  return BUILT;
}

const dir = mkdtempSync(join(tmpdir(), 'gw-binary-'));
const emptyPath = mkdtempSync(join(tmpdir(), 'gw-binary-path-'));
t.teardown(() => { rmSync(dir, { recursive: true, force: true }); rmSync(emptyPath, { recursive: true, force: true }); });
// Nothing of the build's world: no node on PATH, no NODE_* variables, HOME in the empty directory.
const env = { PATH: emptyPath, HOME: dir, LOG_LEVEL: 'info' };
const exe = join(dir, 'gateway');

t.before(async () => {
  copyFileSync(await binary(), exe);
});

t.test('the environment has no node', async (t) => {
  const which = spawnSync('/bin/sh', ['-c', 'command -v node'], { env, encoding: 'utf8' });
  t.not(which.status, 0, `node is not on PATH (${which.stdout.trim()})`);
  t.same(readdirSync(dir), ['gateway'], 'the binary is alone in its directory');
});

t.test('validate: a good config passes, a bad one lists every problem by its path', async (t) => {
  const good = join(dir, 'good.yaml');
  writeFileSync(good, stringify({ upstreams: { a: { targets: [{ url: 'http://127.0.0.1:9' }] } }, routes: [{ match: { prefix: '/' }, upstream: 'a' }] }));
  const ok = spawnSync(exe, ['validate', good], { env, cwd: dir, encoding: 'utf8', timeout: 30_000 });
  t.equal(ok.status, 0, ok.stderr);
  t.match(ok.stdout, /good\.yaml: ok \(1 routes, 1 upstreams\)/);
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, stringify({ upstreams: { a: { targets: [] } }, routes: [{ match: { path: 'nope' } }] }));
  const no = spawnSync(exe, ['validate', bad], { env, cwd: dir, encoding: 'utf8', timeout: 30_000 });
  t.equal(no.status, 1);
  t.match(no.stderr, /routes\[0\]: missing required key "upstream"/);
  t.match(no.stderr, /routes\[0\]\.match\.path: must match pattern "\^\/"/);
  t.notMatch(no.stderr, /    at /, 'no stack trace');
});

t.test('demo: HTTP, transcoding, streaming, an aggregate and WebSocket on two threads', async (t) => {
  const gw = await spawnGateway(exe, ['demo', '--port', '0'], { env, cwd: dir, engine: 'uws' });
  t.teardown(() => gw.stop());
  t.equal(gw.info.threads, 2, 'two front-end threads');
  const users = await request(`${gw.url}/api/users`);
  t.equal(users.status, 200);
  t.equal(users.json.items.length, 2);
  const book = await request(`${gw.url}/v1/shelves/classics/books/1`);
  t.equal(book.status, 200, book.body);
  t.equal(book.json.author, 'Ada Lovelace', 'REST/JSON → gRPC through the worker pool');
  const watch = await request(`${gw.url}/v1/shelves/classics:watch?page_size=3`);
  t.equal(watch.status, 200);
  const lines = watch.body.trim().split('\n').map((l) => JSON.parse(l) as { name: string });
  t.equal(lines.length, 3, 'three streamed messages as NDJSON');
  t.equal(lines[1]!.name, 'shelves/classics/books/2');
  const profile = await request(`${gw.url}/api/profile/1`);
  t.equal(profile.status, 200, profile.body);
  t.equal(profile.json.recommendations.books.length, 2, 'the aggregate includes the gRPC backend');
  const echoed = await new Promise<string>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/ws/echo`);
    ws.on('open', () => ws.send('hello'));
    ws.on('message', (m) => { resolve(String(m)); ws.close(); });
    ws.on('error', reject);
  });
  t.equal(echoed, 'echo: hello');
  t.equal(await gw.stop(), 0, 'SIGTERM: a clean exit');
  t.match(gw.output(), /"msg":"stopped"/);
  t.same(readdirSync(dir).sort(), ['.cache', 'bad.yaml', 'gateway', 'good.yaml'], 'its assets went to the private cache, nowhere else');
  t.equal(statSync(join(dir, '.cache', 'edge-gateway')).mode & 0o777, 0o700, 'the cache is private');
});

t.test('--config with two threads: serves, reloads on SIGHUP, keeps the config when a reload fails', async (t) => {
  const a = await startUpstream((req, res) => res.end(`a:${req.url}`));
  const b = await startUpstream((req, res) => res.end(`b:${req.url}`));
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const configFile = join(dir, 'gateway.yaml');
  const config = (route: string, upstream: string) => stringify({
    threads: 2,
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    upstreams: { a: { targets: [{ url: a.url }] }, b: { targets: [{ url: b.url }] } },
    routes: [{ match: { prefix: route }, upstream }],
  });
  writeFileSync(configFile, config('/one', 'a'));
  const gw = await spawnGateway(exe, ['--config', configFile], { env, cwd: dir, engine: 'uws', configFile });
  t.teardown(() => gw.stop());
  t.equal(gw.info.threads, 2);
  t.equal((await request(`${gw.url}/one/x`)).body, 'a:/one/x');
  writeFileSync(configFile, config('/two', 'b'));
  gw.proc.kill('SIGHUP');
  let body = '';
  for (let i = 0; i < 100 && body !== 'b:/two/y'; i++) { await sleep(50); body = (await request(`${gw.url}/two/y`)).body; }
  t.equal(body, 'b:/two/y', 'SIGHUP re-read the file');
  t.equal((await request(`${gw.url}/one/x`)).status, 404, 'the old route is gone');
  writeFileSync(configFile, 'routes: [ { match: { path: nope } } ]');
  gw.proc.kill('SIGHUP');
  await sleep(500);
  t.equal((await request(`${gw.url}/two/y`)).body, 'b:/two/y', 'a broken file keeps the running config');
  t.match(gw.output(), /reload failed; keeping the running config/);
  t.equal(await gw.stop(), 0);
});
