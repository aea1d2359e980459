// Admin API answers computed from a gateway's state (used directly by a single-thread
// front, and inside each front-end thread of a threaded one).
import type { Gateway } from './gateway.js';
import { consumersOf } from '../policies/auth/index.js';
import { plansOf } from '../policies/quota/index.js';

export function upstreamStatus(gateway: Gateway): Record<string, unknown> {
  const now = Date.now();
  const out: Record<string, unknown> = {};
  for (const [name, u] of gateway.routeTable.upstreams) out[name] = u.status(now);
  return out;
}

export function limiterStatus(gateway: Gateway): Record<string, unknown> {
  const st = gateway.limiter.stats();
  return {
    tableSize: gateway.limiter.capacity, slotsInUse: st.used, decisions: Number(st.decisions), denied: Number(st.denied), tableFull: Number(st.full),
    ...(gateway.remoteLimiter?.status() ?? { backend: 'local' }),
  };
}

export function consumerUsage(gateway: Gateway, id: string): Record<string, unknown> | null {
  const table = gateway.routeTable;
  const consumer = consumersOf(table.state).byId(id);
  return consumer ? plansOf(table.state).usage(gateway.quotas, consumer) : null;
}
