// What each engine (and nginx, for reference) does with the clients that find uWS 20.30's
// limits: HTTP/1.0 (ab, nginx's default proxy_http_version, HAProxy's httpchk), pipelining
// (autocannon -p), the malformed-request corpus, many header fields, a request head split
// over two reads. Prints the table README.md and docs/deploy.md carry and writes
// bench/results/engine-limits.json.  npm run measure:engines
import net from 'node:net';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { root, log } from './scenario-settings.js';
import { runLoad, PROXY_CORE } from './load-runner.js';
import { ensureNginx, startNginx } from './nginx.js';
import { startGatewayProcess } from '../test/helpers/gateway-process.js';
import { startUpstream } from '../test/helpers/upstream.js';
import { rawExchange, statusOf } from '../test/helpers/client.js';
import { MALFORMED } from '../test/helpers/malformed-corpus.js';

/** uWS closes an unanswered connection at its ~10 s idle timeout: wait past it. */
const DROP_WAIT_MS = 13_000;
const up = await startUpstream((_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('x'.repeat(100)); });

/** `n` HTTP/1.0 requests, `parallel` at a time, each on its own connection as ab sends them. */
async function http10(port: number, n = 100, parallel = 10): Promise<{ answered: number; sent: number }> {
  let answered = 0;
  for (let i = 0; i < n; i += parallel) {
    const batch = await Promise.all(Array.from({ length: Math.min(parallel, n - i) }, () =>
      rawExchange(port, 'GET /small HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: ApacheBench/2.3\r\n\r\n', 2000)));
    answered += batch.filter((r) => statusOf(r.text) === 200).length;
  }
  return { answered, sent: n };
}

/** One request with `fields` header fields: its status, or how it was dropped. */
async function headerFields(port: number, fields: number): Promise<string> {
  // Host and Connection are two of the fields
  const lines = Array.from({ length: fields - 2 }, (_, i) => `X-F${i}: v\r\n`).join('');
  const r = await rawExchange(port, `GET /small HTTP/1.1\r\nHost: 127.0.0.1\r\n${lines}Connection: close\r\n\r\n`, DROP_WAIT_MS);
  return String(statusOf(r.text) ?? 'dropped');
}

/** A 6 KB head written in two parts, 50 ms apart (a large cookie over a slow link). */
function splitHead(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    const head = `GET /small HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${'c'.repeat(6000)}\r\nConnection: close\r\n\r\n`;
    const done = () => { clearTimeout(timer); s.destroy(); resolve(String(statusOf(text) ?? 'dropped')); };
    const timer = setTimeout(done, DROP_WAIT_MS);
    s.on('data', (d) => { text += d.toString('latin1'); });
    s.on('close', done);
    s.on('error', () => {});
    s.write(head.slice(0, 3000));
    void sleep(50).then(() => s.write(head.slice(3000)));
  });
}

/** Every request of the malformed corpus at once: how many got an answer (4xx), how many were dropped. */
async function malformed(port: number): Promise<{ answered: number; dropped: number; forwarded: number }> {
  const before = up.seen.length;
  const rs = await Promise.all(MALFORMED.map(([, bytes]) => rawExchange(port, Buffer.from(bytes, 'latin1'), DROP_WAIT_MS)));
  const answered = rs.filter((r) => statusOf(r.text) !== null).length;
  return { answered, dropped: rs.length - answered, forwarded: up.seen.length - before };
}

async function pipelined(port: number): Promise<{ answers: number; rps: number; errors: number }> {
  const r = await runLoad(`http://127.0.0.1:${port}/small`, 3, {}, {}, { connections: 10, pipelining: 10 });
  return { answers: r.requests, rps: Math.round(r.rps), errors: r.errors };
}

const results: Record<string, Record<string, unknown>> = {};
const targets: Array<{ name: string; start: () => Promise<{ port: number; stop: () => Promise<unknown> }> }> = [
  { name: 'gateway (uws)', start: () => startGatewayProcess({ upstreams: { up: { targets: [{ url: up.url }] } }, routes: [{ match: { prefix: '/' }, upstream: 'up' }] }, 'uws') },
  { name: 'gateway (node)', start: () => startGatewayProcess({ upstreams: { up: { targets: [{ url: up.url }] } }, routes: [{ match: { prefix: '/' }, upstream: 'up' }] }, 'node') },
];
const nginxBin = ensureNginx(log);
if (nginxBin) targets.push({ name: 'nginx', start: () => startNginx(nginxBin, PROXY_CORE, up.port) });
for (const target of targets) {
  const gw = await target.start();
  try {
    const r: Record<string, unknown> = {};
    r.http10 = await http10(gw.port);
    r.pipelined = await pipelined(gw.port);
    for (const n of [48, 49, 101]) r[`headerFields${n}`] = await headerFields(gw.port, n);
    r.splitHead6KB = await splitHead(gw.port);
    r.malformed = await malformed(gw.port);
    results[target.name] = r;
    log(`${target.name}: ${JSON.stringify(r)}`);
  } finally {
    await gw.stop();
  }
}
await up.close();

const names = Object.keys(results);
const cell = (name: string, f: (r: any) => string) => f(results[name]);
const rows: Array<[string, (r: any) => string]> = [
  ['HTTP/1.0 requests answered (ab-style, 100)', (r) => `${r.http10.answered}/${r.http10.sent}`],
  ['pipelined, `autocannon -c 10 -p 10`, 3 s: answers', (r) => `${r.pipelined.answers} (${r.pipelined.rps} req/s${r.pipelined.errors ? `, ${r.pipelined.errors} errors` : ''})`],
  [`malformed corpus (${MALFORMED.length} requests): answered / dropped unanswered / forwarded upstream`, (r) => `${r.malformed.answered} / ${r.malformed.dropped} / ${r.malformed.forwarded}`],
  ['48 / 49 / 101 header fields', (r) => `${r.headerFields48} / ${r.headerFields49} / ${r.headerFields101}`],
  ['6 KB head split over two reads', (r) => r.splitHead6KB],
];
const table = [`| client | ${names.join(' | ')} |`, `|---|${names.map(() => '---').join('|')}|`, ...rows.map(([what, f]) => `| ${what} | ${names.map((n) => cell(n, f)).join(' | ')} |`)];
process.stdout.write(table.join('\n') + '\n');
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'engine-limits.json'), JSON.stringify({ measuredAt: new Date().toISOString(), node: process.version, results, table }, null, 2) + '\n');
