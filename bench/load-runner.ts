// Runs the load generator (autocannon, or wrk with BENCH_LOAD=wrk) pinned to the load core
// and returns its numbers. Layout on 2 cores: proxies on core 0, upstream + load on core 1.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pinned } from './processes.js';

const here = dirname(fileURLToPath(import.meta.url));
export const PROXY_CORE = cpus().length > 1 ? 0 : null;
export const LOAD_CORE = cpus().length > 1 ? 1 : null;
export const generator = process.env.BENCH_LOAD === 'wrk' ? 'wrk' : 'autocannon';
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);

export interface LoadResult { rps: number; p50: number; p99: number; requests: number; errors: number; non2xx: number }

/** wrk's "1.23ms" / "850.00us" / "1.01s" in ms */
function wrkMs(v: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(v);
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

function parseWrk(out: string): LoadResult {
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? 0);
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p50: wrkMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? ''),
    p99: wrkMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? ''),
    requests: num(/(\d+) requests in/),
    errors: [...out.matchAll(/(?:connect|read|write|timeout) (\d+)/g)].reduce((a, m) => a + Number(m[1]), 0),
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
  };
}

/** wrk sends a POST body through a Lua script. */
function wrkScript(method: string, body: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'bench-wrk-')), 'request.lua');
  writeFileSync(file, `wrk.method = ${JSON.stringify(method)}\nwrk.body = ${JSON.stringify(body)}\n`);
  return file;
}

/** How the load is offered: connections (BENCH_CONNECTIONS, default 50), requests in
 *  flight per connection (pipelining: always autocannon's, as `autocannon -p N`), and a
 *  fixed rate in requests/s over all connections (always autocannon's `overallRate`: wrk has none). */
export interface LoadShape { connections?: number; pipelining?: number; rate?: number }

export function runLoad(url: string, secs: number, headers: Record<string, string> = {}, request: { method?: string; body?: string } = {}, shape: LoadShape = {}): Promise<LoadResult> {
  const c = shape.connections ?? connections;
  const pipelining = shape.pipelining ?? 1;
  const rate = shape.rate ?? 0;
  const wrk = generator === 'wrk' && pipelining === 1 && rate === 0;
  const script = wrk && request.body !== undefined ? ['-s', wrkScript(request.method ?? 'POST', request.body)] : [];
  const [cmd, args] = wrk
    ? pinned(LOAD_CORE, 'wrk', ['-t1', `-c${c}`, `-d${secs}s`, '--latency', ...script, ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url])
    : pinned(LOAD_CORE, process.execPath, [join(here, 'load.js'), url, String(c), String(secs), JSON.stringify(headers), JSON.stringify(request), String(pipelining), String(rate)]);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('exit', (code) => (code === 0 ? resolve(wrk ? parseWrk(out) : JSON.parse(out)) : reject(new Error(`${generator} exited ${code}`))));
  });
}
