// npm run bench:ws: 100-byte WebSocket echo over 100 connections (closed loop), direct to a
// bare uWS upstream vs through the gateway (uws engine, 1 front thread), interleaved rounds;
// messages/s, p50/p99 and gateway CPU per message. The gateway is pinned to core 0, the
// upstream and the load generator to core 1. Target (issue #14): ≥ 0.7× direct's messages/s.
// Written to bench/results/ws-<mode>.json.
import { writeFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { stringify } from 'yaml';
import { startProc, cpuSeconds, pinned } from './processes.js';
import { here, root, short, seconds, rounds, log } from './scenario-settings.js';
import { PROXY_CORE, LOAD_CORE } from './load-runner.js';

const connections = Number(process.env.BENCH_CONNECTIONS ?? 100);
interface WsResult { messages: number; perSecond: number; p50: number; p99: number; errors: number }

function load(url: string, secs: number): Promise<WsResult> {
  const [cmd, args] = pinned(LOAD_CORE, process.execPath, [join(here, 'ws-load.js'), url, String(connections), String(secs)]);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as WsResult) : reject(new Error(`ws-load exited ${code}`))));
  });
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

const upstream = await startProc(LOAD_CORE, process.execPath, [join(here, 'ws-upstream.js')]);
const file = join(mkdtempSync(join(tmpdir(), 'bench-ws-')), 'gateway.yaml');
writeFileSync(file, stringify({
  engine: 'uws', threads: 1, listen: { host: '127.0.0.1', port: 0 }, admin: { enabled: false },
  upstreams: { echo: { targets: [{ url: `http://127.0.0.1:${upstream.port}` }] } },
  routes: [{ name: 'echo', match: { path: '/echo' }, upstream: 'echo', websocket: { pingIntervalMs: 0, maxConnections: 100000 } }],
}));
const gw = await startProc(PROXY_CORE, process.execPath, [join(root, 'dist', 'src', 'cli.js'), '--config', file], { LOG_LEVEL: 'info' }, /"port":(\d+)/);
const acc = { direct: [] as WsResult[], gateway: [] as WsResult[], cpu: [] as number[] };
try {
  await load(`ws://127.0.0.1:${gw.port}/echo`, 1); // warm-up
  for (let r = 0; r < rounds; r++) {
    const d = await load(`ws://127.0.0.1:${upstream.port}/echo`, seconds);
    const cpu0 = cpuSeconds(gw.child.pid!);
    const g = await load(`ws://127.0.0.1:${gw.port}/echo`, seconds);
    const cpu = ((cpuSeconds(gw.child.pid!) - cpu0) * 1e6) / Math.max(1, g.messages);
    if (d.errors || g.errors) throw new Error(`errors: direct ${d.errors}, gateway ${g.errors}`);
    acc.direct.push(d); acc.gateway.push(g); acc.cpu.push(cpu);
    log(`round ${r + 1}: direct ${d.perSecond} msg/s (p99 ${d.p99} ms), gateway ${g.perSecond} msg/s (p99 ${g.p99} ms, ${cpu.toFixed(1)} µs CPU/msg)`);
  }
} finally {
  await gw.stop();
  await upstream.stop();
}
const summary = (xs: WsResult[]) => ({ perSecond: Math.round(mean(xs.map((x) => x.perSecond))), p50: +mean(xs.map((x) => x.p50)).toFixed(2), p99: +mean(xs.map((x) => x.p99)).toFixed(2) });
const direct = summary(acc.direct), gateway = summary(acc.gateway);
const ratio = +(gateway.perSecond / direct.perSecond).toFixed(3);
const report = {
  setup: { date: new Date().toISOString(), mode: short ? 'short' : 'full', seconds, rounds, connections, message: '100-byte text, echoed; closed loop per connection', upstream: 'bare uWS echo', gateway: 'uws engine, 1 front thread' },
  results: [{ target: 'direct to the uWS upstream', ...direct }, { target: 'through the gateway', ...gateway, cpuUsPerMessage: +mean(acc.cpu).toFixed(1) }],
  gatewayVsDirect: ratio,
  target: 'gateway messages/s ≥ 0.7× direct',
  met: ratio >= 0.7,
};
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', `ws-${report.setup.mode}.json`), JSON.stringify(report, null, 2) + '\n');
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
