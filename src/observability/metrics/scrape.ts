// GET /metrics: the shared store's families, then what is read when the scrape comes —
// the threads' upstream state (target health, breaker state: per-thread, the worst shown,
// as /admin/upstreams), requests in flight, the transcoding pool, and the process.
import { readdirSync } from 'node:fs';
import type { AdminView } from '../../gateway/front.js';
import type { MetricsStore } from './store.js';
import { escapeLabel } from './store.js';
import { render, type Rendered, type Series } from './exposition.js';

export interface ScrapeSources {
  store: MetricsStore;
  view: AdminView;
  /** the transcoding pool's figures */
  transcoding: () => { workers: number; queued: number; running: number; utilization: number };
}

const BREAKER_VALUE: Record<string, number> = { closed: 0, 'half-open': 1, open: 2 };
const START_SECONDS = Math.round(Date.now() / 1000 - process.uptime());

const gauge = (name: string, help: string, series: Series[]): Rendered => ({ name, help, type: 'gauge', series });
const one = (value: number): Series[] => [{ labels: '', value }];

function openFds(): number {
  try { return readdirSync('/proc/self/fd').length; } catch { return 0; }
}

type UpstreamState = { breaker: string; targets: Array<{ url: string; host: string; health: string }> };

export async function scrape(src: ScrapeSources, openMetrics: boolean): Promise<string> {
  const families: Rendered[] = [];
  for (const f of src.store.families.values()) families.push({ name: f.def.name, help: f.def.help, type: f.def.type, buckets: f.def.buckets, series: [...f.read()] });
  let upstreams: Record<string, UpstreamState> = {};
  let inflight = 0;
  let connections: number | null = null;
  let websockets = 0;
  try {
    upstreams = (await src.view.upstreams()) as Record<string, UpstreamState>;
    const h = await src.view.health();
    inflight = h.inflight;
    connections = h.connections ?? null;
    websockets = h.websockets;
  } catch { /* a thread that does not answer: /admin/health reports it; the counters still render */ }
  const health: Series[] = [];
  const breaker: Series[] = [];
  for (const [name, u] of Object.entries(upstreams)) {
    for (const t of u.targets) health.push({ labels: `upstream="${escapeLabel(name)}",target="${escapeLabel(t.host)}"`, value: t.health === 'healthy' ? 1 : 0 });
    if (u.breaker in BREAKER_VALUE) breaker.push({ labels: `upstream="${escapeLabel(name)}"`, value: BREAKER_VALUE[u.breaker]! });
  }
  families.push(
    gauge('gateway_upstream_target_health', 'Whether a target takes traffic (1) or is unhealthy or ejected (0), in the worst front-end thread.', health),
    gauge('gateway_circuit_breaker_state', 'Circuit breaker state: 0 closed, 1 half-open, 2 open (the worst front-end thread).', breaker),
    gauge('gateway_http_requests_in_flight', 'Requests being handled, all front-end threads.', one(inflight)),
    gauge('gateway_websocket_connections_open', 'Client WebSockets open, all front-end threads.', one(websockets)),
  );
  if (connections !== null) families.push(gauge('gateway_http_connections_open', 'Open client connections (node engine; uWS 20.30 reports no connection events).', one(connections)));
  const t = src.transcoding();
  families.push(
    gauge('gateway_transcoding_workers', 'Transcoding pool workers.', one(t.workers)),
    gauge('gateway_transcoding_queue_depth', 'Transcoding calls waiting for a worker.', one(t.queued)),
    gauge('gateway_transcoding_running', 'Transcoding calls given to a worker and not yet answered.', one(t.running)),
    gauge('gateway_transcoding_pool_utilization', 'The pool\'s utilisation (0–1: time its workers spent running tasks, Piscina\'s figure).', one(t.utilization)),
  );
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  families.push(
    { name: 'process_cpu_user_seconds_total', help: 'User CPU time of the process (every thread).', type: 'counter', series: one(cpu.user / 1e6) },
    { name: 'process_cpu_system_seconds_total', help: 'System CPU time of the process.', type: 'counter', series: one(cpu.system / 1e6) },
    { name: 'process_cpu_seconds_total', help: 'User and system CPU time of the process.', type: 'counter', series: one((cpu.user + cpu.system) / 1e6) },
    gauge('process_resident_memory_bytes', 'Resident memory of the process.', one(mem.rss)),
    gauge('process_heap_bytes', 'V8 heap used by the main thread.', one(mem.heapUsed)),
    gauge('process_open_fds', 'Open file descriptors.', one(openFds())),
    gauge('process_start_time_seconds', 'Start time of the process (Unix seconds).', one(START_SECONDS)),
  );
  return render(families, openMetrics);
}
