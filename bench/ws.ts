// npm run bench:ws: 100-byte WebSocket echo over 100 connections (closed loop), direct to a
// bare uWS upstream vs through the gateway (uws engine, 1 front thread), interleaved rounds;
// messages/s, p50/p99 and gateway CPU per message. Then the WebSocket ⇄ gRPC bridge: 50
// bidi Catalog.Discuss streams in a closed loop, a direct grpc-js client vs JSON frames
// through the gateway's bridge. The gateway is pinned to core 0, the upstreams and the load
// generator to core 1. Targets (issue #14): echo ≥ 0.7× direct's messages/s, bidi bridge
// ≥ 0.8× the direct grpc-js client's. Written to bench/results/ws-<mode>.json.
import { writeFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { stringify } from 'yaml';
import { startProc, cpuSeconds, pinned } from './processes.js';
import { here, root, short, seconds, rounds, log } from './scenario-settings.js';
import { PROXY_CORE, LOAD_CORE } from './load-runner.js';

const connections = Number(process.env.BENCH_CONNECTIONS ?? 100);
interface WsResult { messages: number; perSecond: number; p50: number; p99: number; errors: number }

const bidiStreams = Number(process.env.BENCH_BIDI_STREAMS ?? 50);
/** bidi rounds: more than the echo's, the bridge's ratio moves ±10% from round to round on this machine */
const bidiRounds = Number(process.env.BENCH_BIDI_ROUNDS ?? (short ? 1 : 4));
/** notes in flight per stream in the streaming rounds (the ping-pong rounds have one) */
const bidiWindow = Number(process.env.BENCH_BIDI_WINDOW ?? 4);
const NOTE_JSON = JSON.stringify({ text: 'x'.repeat(90), seq: 1 });

function load(url: string, secs: number): Promise<WsResult> {
  return loadWith('ws-load.js', [url, String(connections), String(secs)]);
}

/** `mode` grpc: `to` is the gRPC server's port; ws: the bridge's URL */
function bidi(mode: 'grpc' | 'ws', to: string, secs: number, window = 1): Promise<WsResult> {
  return loadWith('bidi-load.js', [mode, to, String(bidiStreams), String(secs), String(window)]);
}

/**
 * The bridge's ping-pong load from the C client (ws-load.c, built here with `cc` when there is
 * one): a load generator that costs what its system calls cost, to tell the gateway's limit
 * from the load generator's. null without a C compiler.
 */
const cLoad = buildCLoad();
function buildCLoad(): string | null {
  const out = join(mkdtempSync(join(tmpdir(), 'bench-wsload-')), 'wsload');
  const cc = spawnSync('cc', ['-O2', '-o', out, join(root, 'bench', 'ws-load.c')], { encoding: 'utf8' });
  if (cc.status !== 0) { log(`no C WebSocket load generator (cc: ${cc.error?.message ?? cc.stderr.trim()}): its rounds are left out`); return null; }
  return out;
}
function bidiC(url: string, secs: number): Promise<WsResult> {
  const u = new URL(url);
  return loadWith(null, [u.hostname, u.port, u.pathname, String(bidiStreams), String(secs), NOTE_JSON, '"XXXX'], cLoad!);
}

function loadWith(script: string | null, argv: string[], binary?: string): Promise<WsResult> {
  const [cmd, args] = script === null ? pinned(LOAD_CORE, binary!, argv) : pinned(LOAD_CORE, process.execPath, [join(here, script), ...argv]);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as WsResult) : reject(new Error(`ws-load exited ${code}`))));
  });
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

const upstream = await startProc(LOAD_CORE, process.execPath, [join(here, 'ws-upstream.js')]);
const grpcServer = await startProc(LOAD_CORE, process.execPath, [join(here, 'grpc-server.js')]);
const file = join(mkdtempSync(join(tmpdir(), 'bench-ws-')), 'gateway.yaml');
/** `inlineWebSocketBelowBytes` absent: the default (bridge calls in the front thread, messages of 1 KB or more mapped in the pool); 0: the whole call in the pool */
const config = (inlineWebSocketBelowBytes?: number, client?: 'node') => stringify({
  engine: 'uws', threads: 1, listen: { host: '127.0.0.1', port: 0 }, admin: { enabled: false },
  upstreams: {
    echo: { targets: [{ url: `http://127.0.0.1:${upstream.port}` }] },
    catalog: { protocol: 'grpc', ...(client ? { http2: { client } } : {}), targets: [{ url: `grpc://127.0.0.1:${grpcServer.port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [join(root, 'protos')] } },
  },
  routes: [
    { name: 'echo', match: { path: '/echo' }, upstream: 'echo', websocket: { pingIntervalMs: 0, maxConnections: 100000 } },
    { name: 'bridge', match: { prefix: '/v1' }, timeouts: { totalMs: 3_600_000 }, transcode: { upstream: 'catalog', websocket: { pingIntervalMs: 0 } } },
  ],
  transcoding: { inlineWebSocketBelowBytes },
});
writeFileSync(file, config());
const poolFile = file.replace(/gateway\.yaml$/, 'pool.yaml');
writeFileSync(poolFile, config(0));
const gw = await startProc(PROXY_CORE, process.execPath, [join(root, 'dist', 'src', 'cli.js'), '--config', file], { LOG_LEVEL: 'info' }, /"port":(\d+)/);
// the same, with each bridge call whole in the pool (transcoding.inlineWebSocketBelowBytes: 0)
const gwPool = await startProc(PROXY_CORE, process.execPath, [join(root, 'dist', 'src', 'cli.js'), '--config', poolFile], { LOG_LEVEL: 'info' }, /"port":(\d+)/);
// the default, with the gRPC side on node:http2 (upstreams.catalog.http2.client: node): the baseline of the gateway's own HTTP/2 client
const nodeFile = file.replace(/gateway\.yaml$/, 'node-h2.yaml');
writeFileSync(nodeFile, config(undefined, 'node'));
const gwNode = await startProc(PROXY_CORE, process.execPath, [join(root, 'dist', 'src', 'cli.js'), '--config', nodeFile], { LOG_LEVEL: 'info' }, /"port":(\d+)/);
const acc = {
  direct: [] as WsResult[], gateway: [] as WsResult[], cpu: [] as number[],
  bidiDirect: [] as WsResult[], bidiGateway: [] as WsResult[], bidiCpu: [] as number[], bidiPool: [] as WsResult[], bidiPoolCpu: [] as number[], bidiNode: [] as WsResult[], bidiNodeCpu: [] as number[], bidiC: [] as WsResult[], bidiCCpu: [] as number[],
  streamDirect: [] as WsResult[], streamGateway: [] as WsResult[], streamCpu: [] as number[],
};
/** gateway CPU µs per message over one load */
async function measured(pid: number, run: () => Promise<WsResult>): Promise<[WsResult, number]> {
  const cpu0 = cpuSeconds(pid);
  const r = await run();
  return [r, ((cpuSeconds(pid) - cpu0) * 1e6) / Math.max(1, r.messages)];
}
const bridgeUrl = `ws://127.0.0.1:${gw.port}/v1/notes:discuss`;
const poolUrl = `ws://127.0.0.1:${gwPool.port}/v1/notes:discuss`;
const nodeUrl = `ws://127.0.0.1:${gwNode.port}/v1/notes:discuss`;
try {
  await load(`ws://127.0.0.1:${gw.port}/echo`, 1); // warm-up
  for (let r = 0; r < rounds; r++) {
    const d = await load(`ws://127.0.0.1:${upstream.port}/echo`, seconds);
    const [g, cpu] = await measured(gw.child.pid!, () => load(`ws://127.0.0.1:${gw.port}/echo`, seconds));
    if (d.errors || g.errors) throw new Error(`errors: direct ${d.errors}, gateway ${g.errors}`);
    acc.direct.push(d); acc.gateway.push(g); acc.cpu.push(cpu);
    log(`round ${r + 1}: direct ${d.perSecond} msg/s (p99 ${d.p99} ms), gateway ${g.perSecond} msg/s (p99 ${g.p99} ms, ${cpu.toFixed(1)} µs CPU/msg)`);
  }
  await bidi('ws', bridgeUrl, 1); // warm-up: the pool compiles, the channel connects
  await bidi('ws', poolUrl, 1);
  await bidi('ws', nodeUrl, 1);
  for (let r = 0; r < bidiRounds; r++) {
    const d = await bidi('grpc', String(grpcServer.port), seconds);
    const [g, cpu] = await measured(gw.child.pid!, () => bidi('ws', bridgeUrl, seconds));
    const [p, cpuP] = await measured(gwPool.child.pid!, () => bidi('ws', poolUrl, seconds));
    const [nh, cpuN] = await measured(gwNode.child.pid!, () => bidi('ws', nodeUrl, seconds));
    const [c, cpuC] = cLoad ? await measured(gw.child.pid!, () => bidiC(bridgeUrl, seconds)) : [null, 0];
    if (d.errors || g.errors || p.errors || nh.errors || c?.errors) throw new Error(`bidi errors: direct ${d.errors}, bridge ${g.errors}, pool ${p.errors}, C client ${c?.errors}`);
    acc.bidiDirect.push(d); acc.bidiGateway.push(g); acc.bidiCpu.push(cpu); acc.bidiPool.push(p); acc.bidiPoolCpu.push(cpuP); acc.bidiNode.push(nh); acc.bidiNodeCpu.push(cpuN);
    if (c) { acc.bidiC.push(c); acc.bidiCCpu.push(cpuC); }
    log(`bidi round ${r + 1}: direct grpc-js ${d.perSecond} msg/s (p99 ${d.p99} ms), bridge ${g.perSecond} msg/s (p99 ${g.p99} ms, ${cpu.toFixed(1)} µs CPU/msg), whole call in the pool ${p.perSecond} msg/s (p99 ${p.p99} ms, ${cpuP.toFixed(1)} µs CPU/msg), gRPC on node:http2 ${nh.perSecond} msg/s (${cpuN.toFixed(1)} µs CPU/msg)${c ? `, bridge from the C client ${c.perSecond} msg/s (${cpuC.toFixed(1)} µs CPU/msg)` : ''}`);
    // streaming: bidiWindow notes in flight per stream, both sides
    const sd = await bidi('grpc', String(grpcServer.port), seconds, bidiWindow);
    const [sg, cpuS] = await measured(gw.child.pid!, () => bidi('ws', bridgeUrl, seconds, bidiWindow));
    if (sd.errors || sg.errors) throw new Error(`streaming errors: direct ${sd.errors}, bridge ${sg.errors}`);
    acc.streamDirect.push(sd); acc.streamGateway.push(sg); acc.streamCpu.push(cpuS);
    log(`streaming round ${r + 1} (${bidiWindow} in flight per stream): direct grpc-js ${sd.perSecond} msg/s (p99 ${sd.p99} ms), bridge ${sg.perSecond} msg/s (p99 ${sg.p99} ms, ${cpuS.toFixed(1)} µs CPU/msg)`);
  }
} finally {
  await gw.stop();
  await gwPool.stop();
  await gwNode.stop();
  await upstream.stop();
  await grpcServer.stop();
}
const summary = (xs: WsResult[]) => ({ perSecond: Math.round(mean(xs.map((x) => x.perSecond))), p50: +mean(xs.map((x) => x.p50)).toFixed(2), p99: +mean(xs.map((x) => x.p99)).toFixed(2) });
const direct = summary(acc.direct), gateway = summary(acc.gateway);
const ratio = +(gateway.perSecond / direct.perSecond).toFixed(3);
const bidiDirect = summary(acc.bidiDirect), bidiGateway = summary(acc.bidiGateway);
const bidiRatio = +(bidiGateway.perSecond / bidiDirect.perSecond).toFixed(3);
const bidiPool = summary(acc.bidiPool);
const poolRatio = +(bidiPool.perSecond / bidiDirect.perSecond).toFixed(3);
const bidiFromC = acc.bidiC.length ? summary(acc.bidiC) : null;
const perRound = acc.bidiGateway.map((g, i) => +(g.perSecond / acc.bidiDirect[i]!.perSecond).toFixed(3));
const streamDirect = summary(acc.streamDirect), streamGateway = summary(acc.streamGateway);
const report = {
  setup: { date: new Date().toISOString(), mode: short ? 'short' : 'full', seconds, rounds, connections, message: '100-byte text, echoed; closed loop per connection', upstream: 'bare uWS echo', gateway: 'uws engine, 1 front thread' },
  results: [{ target: 'direct to the uWS upstream', ...direct }, { target: 'through the gateway', ...gateway, cpuUsPerMessage: +mean(acc.cpu).toFixed(1) }],
  gatewayVsDirect: ratio,
  target: 'gateway messages/s ≥ 0.7× direct',
  met: ratio >= 0.7,
  bidi: {
    setup: { streams: bidiStreams, message: 'Note of ~100 bytes (JSON over WebSocket, protobuf direct), answered upper-cased; closed loop per stream', upstream: 'grpc-js demo Catalog.Discuss', gateway: 'uws engine, 1 front thread, the transcoding pool (1 KB and larger messages are mapped there by default)' },
    results: [
      { target: 'direct grpc-js bidi client', ...bidiDirect },
      { target: 'WebSocket bridge (JSON frames), default: calls in the front thread', ...bidiGateway, cpuUsPerMessage: +mean(acc.bidiCpu).toFixed(1) },
      { target: 'WebSocket bridge, transcoding.inlineWebSocketBelowBytes: 0 (whole call in the pool)', ...bidiPool, cpuUsPerMessage: +mean(acc.bidiPoolCpu).toFixed(1) },
      { target: 'WebSocket bridge, default, its gRPC side on node:http2 (upstreams.NAME.http2.client: node)', ...summary(acc.bidiNode), cpuUsPerMessage: +mean(acc.bidiNodeCpu).toFixed(1) },
      ...(bidiFromC ? [{ target: 'WebSocket bridge, default, driven by the C load generator (bench/ws-load.c)', ...bidiFromC, cpuUsPerMessage: +mean(acc.bidiCCpu).toFixed(1) }] : []),
    ],
    rounds: bidiRounds,
    bridgeVsDirect: bidiRatio,
    bridgeVsDirectPerRound: perRound,
    wholeCallInPoolVsDirect: poolRatio,
    bridgeFromCClientVsDirect: bidiFromC ? +(bidiFromC.perSecond / bidiDirect.perSecond).toFixed(3) : null,
    target: 'bridge messages/s ≥ 0.8× the direct grpc-js client',
    met: bidiRatio >= 0.8,
  },
  streaming: {
    setup: { streams: bidiStreams, inFlightPerStream: bidiWindow, message: 'the same notes, each answer sending the next: a window of notes in flight per stream on both sides' },
    results: [{ target: 'direct grpc-js bidi client', ...streamDirect }, { target: 'WebSocket bridge (JSON frames), default', ...streamGateway, cpuUsPerMessage: +mean(acc.streamCpu).toFixed(1) }],
    bridgeVsDirect: +(streamGateway.perSecond / streamDirect.perSecond).toFixed(3),
  },
};
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', `ws-${report.setup.mode}.json`), JSON.stringify(report, null, 2) + '\n');
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
