// One autocannon run in its own process (so it can be pinned to a core), printing JSON.
import autocannon from 'autocannon';

const [url, connections, seconds] = [process.argv[2]!, Number(process.argv[3] ?? 50), Number(process.argv[4] ?? 10)];
const headers = JSON.parse(process.argv[5] ?? '{}') as Record<string, string>;
const extra = JSON.parse(process.argv[6] ?? '{}') as { method?: string; body?: string };
const pipelining = Number(process.argv[7] ?? 1);
/** requests/s over all connections (0: as fast as answers come) */
const rate = Number(process.argv[8] ?? 0);
const r = await autocannon({ url, connections, duration: seconds, pipelining, headers, method: (extra.method ?? 'GET') as 'GET', body: extra.body, ...(rate > 0 ? { overallRate: rate } : {}) });
process.stdout.write(JSON.stringify({
  rps: r.requests.average,
  p50: r.latency.p50,
  p99: r.latency.p99,
  requests: r.requests.total,
  errors: r.errors + r.timeouts,
  non2xx: r.non2xx,
  throughputMBps: r.throughput.average / 1024 / 1024,
}) + '\n');
