// /admin/upstreams with several front-end threads: each thread has its own pools, balancer,
// outlier and breaker state. Counters are summed; states show the worst thread (a target
// ejected by one thread is reported ejected), so nothing is hidden.
type TargetStatus = { url: string; host: string; health: string; ejectedForMs: number; ejections: number; inflight: number; consecutiveFailures: number; requests: number; failures: number } & Record<string, unknown>;
type UpstreamStatus = { breaker: string; targets: TargetStatus[] } & Record<string, unknown>;

const HEALTH_RANK: Record<string, number> = { healthy: 0, ejected: 1, unhealthy: 2 };
const BREAKER_RANK: Record<string, number> = { disabled: 0, closed: 1, 'half-open': 2, open: 3 };

export function mergeUpstreamStatus(perThread: Array<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(perThread[0] ?? {})) {
    const all = perThread.map((t) => t[name] as UpstreamStatus | undefined).filter((u): u is UpstreamStatus => !!u);
    const first = all[0]!;
    const targets = first.targets.map((t0) => {
      const same = all.map((u) => u.targets.find((t) => t.url === t0.url && t.host === t0.host)).filter((t): t is TargetStatus => !!t);
      const sum = (k: 'ejections' | 'inflight' | 'requests' | 'failures') => same.reduce((a, t) => a + t[k], 0);
      return {
        ...t0,
        health: same.reduce((w, t) => ((HEALTH_RANK[t.health] ?? 0) > (HEALTH_RANK[w] ?? 0) ? t.health : w), 'healthy'),
        ejectedForMs: Math.max(...same.map((t) => t.ejectedForMs)),
        ejections: sum('ejections'),
        inflight: sum('inflight'),
        consecutiveFailures: Math.max(...same.map((t) => t.consecutiveFailures)),
        requests: sum('requests'),
        failures: sum('failures'),
        requestsByThread: same.map((t) => t.requests),
      };
    });
    const breaker = all.reduce((w, u) => ((BREAKER_RANK[u.breaker] ?? 0) > (BREAKER_RANK[w] ?? 0) ? u.breaker : w), first.breaker);
    out[name] = { ...first, breaker, targets, threads: all.length };
  }
  return out;
}
