// npm run bench:observability-floor: what each piece of observability costs on its own, in a
// hot loop of one process (warm caches, no request around it: a lower bound of what it costs
// inside the gateway), against the budget issue #12 sets — 5% of the CPU of the small GET
// with everything off for metrics + access log + tracing at 1%, 2% for metrics alone. The
// small GET's CPU comes from the last bench:observability run (bench/results/observability-wrk.json)
// or BENCH_OFF_US. Pieces:
//   metrics        one exchange counted (RequestMetrics.exchange: 3 histograms, 2 counters)
//   log line       the access log's JSON line, encoded into its buffer and written to a file in
//                  /dev/shm (the bench's log file), process CPU per line (the write's kernel time too)
//   log bytes      only the kernel's write of the same bytes (64 KB writes of 420-byte lines)
//   trace ids      a trace id, a span id and the upstream traceparent (every request)
//   sampled spans  the two spans of a sampled request (server + upstream attempt)
//   OTLP export    the SDK exporter's synchronous part of export() (serialising to OTLP JSON), per span
import { closeSync, existsSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { MetricsStore } from '../src/observability/metrics/store.js';
import { RequestMetrics, type ExchangeFigures } from '../src/observability/metrics/request-metrics.js';
import { familyDefs } from '../src/observability/metrics/families.js';
import { AccessLog, isoTime, type AccessLogFields } from '../src/observability/access-log/access-log.js';
import { newSpanId, newTraceId, traceparent } from '../src/observability/tracing/trace-context.js';
import { Tracing } from '../src/observability/tracing/tracer.js';
import type { GatewayConfig } from '../src/config/types.js';
import { root, log } from './scenario-settings.js';
import { processCpuUs } from './processes.js';
import { median } from './median.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SAMPLE_RATIO = 0.01;
const yieldTurn = () => new Promise<void>((r) => setImmediate(r));

/** µs per op of a synchronous loop (median of rounds) */
function hot(n: number, fn: (i: number) => void): number {
  const runs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) fn(i);
    runs.push(((performance.now() - t) * 1000) / n);
  }
  return median(runs);
}

const figures: ExchangeFigures = { route: 'small', method: 'GET', status: 200, source: 'upstream', consumer: null, duration: 0.0004, bytesIn: 0, bytesOut: 104, upstream: 'up', upstreamSeconds: 0.0003, retries: 0 };
function metricsCost(): number {
  const cfg = { observability: { metrics: { maxSeries: 1000, histogramBuckets: {}, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], consumerLabel: false } } } as unknown as GatewayConfig;
  const m = new RequestMetrics(MetricsStore.allocate(familyDefs(cfg)));
  return hot(1_000_000, (i) => { figures.duration = 0.0004 + (i & 7) * 1e-5; m.exchange(figures); });
}

const line = (i: number): AccessLogFields => ({
  start_time: isoTime(Date.now()), duration_ms: 0.412 + (i & 7) / 1000, method: 'GET', path: '/small', query: '', protocol: 'HTTP/1.1', status: 200, response_flags: '-',
  bytes_received: 0, bytes_sent: 104, route: 'small', upstream: 'up', upstream_target: '127.0.0.1:18201', upstream_duration_ms: 0.301, retries: 0,
  request_id: '8f14e45fceea167a5a36dedd4bea2543', trace_id: '', consumer: '', client_ip: '127.0.0.1', user_agent: 'wrk/4.2.0',
});

/** Process CPU per line with the access log writing to `dir`, minus the same loop without it. */
async function logLineCost(dir: string): Promise<number> {
  const path = join(dir, 'access.log');
  const runs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const al = new AccessLog({ enabled: true, path, sample: 1, requestHeaders: [], format: 'json', template: '' } as never);
    const N = 200_000;
    const loop = async (write: boolean) => {
      const c = processCpuUs();
      for (let i = 0; i < N; i++) {
        if ((i & 63) === 0) await yieldTurn(); // the writer's writes complete between turns, as in the gateway
        const f = line(i);
        if (write) al.write(f);
      }
      return processCpuUs() - c;
    };
    const without = await loop(false);
    const withLog = await loop(true);
    al.close();
    rmSync(path, { force: true });
    runs.push((withLog - without) / N);
  }
  return median(runs);
}

/** Kernel CPU per 420-byte line written 64 KB at a time (the file emptied between rounds, as bench:observability does). */
function logBytesCost(dir: string): number {
  const path = join(dir, 'bytes.log');
  const fd = openSync(path, 'a');
  const chunk = Buffer.alloc(Math.floor(65536 / 420) * 420, 'x');
  const lines = chunk.length / 420;
  const runs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    ftruncateSync(fd, 0);
    const c = processCpuUs();
    for (let i = 0; i < 2000; i++) writeSync(fd, chunk); // ~130 MB: one bench variant's worth
    runs.push((processCpuUs() - c) / (2000 * lines));
  }
  closeSync(fd);
  rmSync(path, { force: true });
  return median(runs);
}

async function tracingCosts(): Promise<{ ids: number; spans: number; exportPerSpan: number }> {
  const ids = hot(1_000_000, () => { traceparent(newTraceId(), newSpanId(), false); });
  const receiver = createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}')); });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/v1/traces`;
  const tracing = new Tracing({ otlp: { endpoint: url, headers: {}, timeoutMs: 5000 }, sampleRatio: 1, serviceName: 'bench' });
  const ended: ReadableSpan[] = [];
  tracing.processor.onEnd = (s) => { if (ended.length < 512) ended.push(s); };
  // One sampled request's spans, as Observer.begin/done and the proxy make them.
  const spans = hot(20_000, () => {
    const t = tracing.begin(undefined, undefined, performance.now(), 'GET');
    t.span!.setAttributes({ 'http.request.method': 'GET', 'url.path': '/small', 'url.scheme': 'http', 'server.address': '127.0.0.1:18200', 'client.address': '127.0.0.1', 'user_agent.original': 'wrk/4.2.0', 'gateway.request_id': '8f14e45fceea167a5a36dedd4bea2543' });
    t.startAttempt('GET', '127.0.0.1', 18201, 'up');
    t.endAttempt(200, null);
    t.end(performance.now(), 200, { 'gateway.route': 'small', 'http.route': '/small' }, null);
  });
  const exporter = new OTLPTraceExporter({ url });
  const runs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const sent = new Promise<void>((resolve) => {
      const t = performance.now();
      exporter.export(ended, () => resolve());
      runs.push(((performance.now() - t) * 1000) / ended.length);
    });
    await sent;
  }
  await exporter.shutdown();
  await tracing.shutdown();
  receiver.close();
  return { ids, spans, exportPerSpan: median(runs) };
}

function offCpuUs(): { us: number; from: string } {
  if (process.env.BENCH_OFF_US) return { us: Number(process.env.BENCH_OFF_US), from: 'BENCH_OFF_US' };
  const file = join(root, 'bench', 'results', 'observability-wrk.json');
  if (!existsSync(file)) throw new Error('no bench/results/observability-wrk.json: run npm run bench:observability first, or set BENCH_OFF_US');
  const r = JSON.parse(readFileSync(file, 'utf8')) as { date: string; summary: { off: { cpuUsPerReq: number } } };
  return { us: r.summary.off.cpuUsPerReq, from: `bench:observability of ${r.date}` };
}

async function main(): Promise<void> {
  const off = offCpuUs();
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'bench-obs-floor-'));
  try {
    const metrics = metricsCost();
    const logLine = await logLineCost(dir);
    const logBytes = logBytesCost(dir);
    const t = await tracingCosts();
    const sampled = SAMPLE_RATIO * (t.spans + 2 * t.exportPerSpan);
    const all = metrics + logLine + t.ids + sampled;
    const r3 = (x: number) => +x.toFixed(3);
    const report = {
      date: new Date().toISOString(),
      note: 'µs per request (per line, per span where said), hot loops in one process: lower bounds of the cost inside the gateway',
      smallGetOffCpuUs: off.us, smallGetFrom: off.from,
      pieces: { metrics: r3(metrics), logLineWithWrite: r3(logLine), logBytesKernelOnly: r3(logBytes), traceIdsAndHeader: r3(t.ids), sampledRequestSpans: r3(t.spans), otlpExportPerSpan: r3(t.exportPerSpan), tracingAt1PercentPerRequest: r3(t.ids + sampled) },
      floor: { metrics: r3(metrics), all: r3(all) },
      budget: { metrics2Percent: r3(off.us * 0.02), all5Percent: r3(off.us * 0.05) },
      floorWithinBudget: { metrics: metrics <= off.us * 0.02, all: all <= off.us * 0.05 },
    };
    mkdirSync(join(root, 'bench', 'results'), { recursive: true });
    writeFileSync(join(root, 'bench', 'results', 'observability-floor.json'), JSON.stringify(report, null, 2) + '\n');
    log(JSON.stringify(report, null, 2));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
