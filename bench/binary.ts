// The single executable's footprint (npm run bench:binary): its size, the time from spawn to
// the first answered request (a cold start unpacks the assets; a warm one finds them), and the
// RSS after two idle seconds, beside `node dist/src/cli.js` on the same config, one front-end
// thread. Each start is measured BENCH_STARTS times (default 5); the medians are recorded in
// bench/results/binary.json.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { root, log } from './scenario-settings.js';
import { binaryName } from '../src/binary/build-binary.js';
import { median } from './median.js';

const starts = Number(process.env.BENCH_STARTS ?? 5);
const built = join(root, 'dist', binaryName());
if (!existsSync(built)) {
  log('building the binary (npm run build:binary)');
  const b = spawn(process.execPath, [join(root, 'dist', 'src', 'binary', 'build-binary.js')], { stdio: 'inherit' });
  await new Promise((r) => b.once('exit', r));
}

const upstream = http.createServer((_req, res) => res.end('ok'));
await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
const dir = mkdtempSync(join(tmpdir(), 'bench-binary-'));
const exe = join(dir, 'gateway');
copyFileSync(built, exe);
const port = await new Promise<number>((r) => { const s = http.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => r(p)); }); });
const config = join(dir, 'gateway.yaml');
writeFileSync(config, stringify({
  engine: 'uws', threads: 1, listen: { host: '127.0.0.1', port }, admin: { enabled: false },
  upstreams: { up: { targets: [{ url: `http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}` }] } },
  routes: [{ match: { prefix: '/' }, upstream: 'up' }],
}));

function get(): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('error', () => resolve(0));
  });
}

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

/** Spawn → first 200 (ms), then the RSS after 2 s idle. */
async function start(cmd: string, args: string[], env: Record<string, string>): Promise<{ firstAnswerMs: number; idleRssBytes: number }> {
  const t0 = performance.now();
  const child = spawn(cmd, args, { env: { ...env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    while (await get() !== 200) {
      if (child.exitCode !== null) throw new Error(`${cmd} exited with ${child.exitCode}`);
      if (performance.now() - t0 > 30_000) throw new Error(`${cmd} did not answer in 30 s`);
      await sleep(2);
    }
    const firstAnswerMs = performance.now() - t0;
    await sleep(2000);
    return { firstAnswerMs, idleRssBytes: rssOf(child.pid!) };
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

const cache = join(dir, 'cache');
const kinds = {
  'binary, cold cache': { cmd: exe, args: ['--config', config], env: { PATH: '/nonexistent', HOME: dir, GATEWAY_CACHE_DIR: cache }, before: () => rmSync(cache, { recursive: true, force: true }) },
  'binary, warm cache': { cmd: exe, args: ['--config', config], env: { PATH: '/nonexistent', HOME: dir, GATEWAY_CACHE_DIR: cache }, before: () => mkdirSync(cache, { recursive: true, mode: 0o700 }) },
  'node dist/src/cli.js': { cmd: process.execPath, args: [join(root, 'dist', 'src', 'cli.js'), '--config', config], env: { PATH: process.env.PATH ?? '', HOME: dir }, before: () => {} },
};
const samples: Record<string, Array<{ firstAnswerMs: number; idleRssBytes: number }>> = {};
for (let i = 0; i < starts; i++) {
  // interleaved, so that drift on a noisy machine touches every kind alike
  for (const [name, k] of Object.entries(kinds)) {
    k.before();
    const s = await start(k.cmd, k.args, k.env);
    (samples[name] ??= []).push(s);
    log(`${name.padEnd(22)} first answer ${s.firstAnswerMs.toFixed(0).padStart(5)} ms  idle RSS ${(s.idleRssBytes / 1048576).toFixed(1)} MB`);
  }
}
upstream.close();
rmSync(dir, { recursive: true, force: true });

const result = {
  date: new Date().toISOString(),
  node: process.version,
  sizeBytes: statSync(built).size,
  starts,
  kinds: Object.fromEntries(Object.entries(samples).map(([name, s]) => [name, {
    firstAnswerMs: Math.round(median(s.map((x) => x.firstAnswerMs))),
    idleRssMB: +(median(s.map((x) => x.idleRssBytes)) / 1048576).toFixed(1),
  }])),
};
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'binary.json'), JSON.stringify(result, null, 2) + '\n');
process.stdout.write(`${binaryName()}: ${(result.sizeBytes / 1048576).toFixed(1)} MB\n`);
process.stdout.write('| start | first answered request | RSS at idle |\n|---|---|---|\n');
for (const [name, k] of Object.entries(result.kinds)) process.stdout.write(`| ${name} | ${k.firstAnswerMs} ms | ${k.idleRssMB} MB |\n`);
