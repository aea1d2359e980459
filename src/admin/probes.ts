// The liveness and readiness probes: on the admin listener, and on the token-less status
// listener (observability.status.listen) that Kubernetes and load balancers probe.
import type http from 'node:http';
import type { AdminView } from '../gateway/front.js';
import { usesPool } from '../transcode/pool-data.js';
import { send } from './answer.js';

export interface ProbeHooks {
  view: AdminView;
  engine: string;
  /** the process's transcoding pool: its workers (0 until a config needs it) and the generation it serves */
  transcoding?: () => { workers: number; generation: number };
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;

export function probeEndpoints(hooks: ProbeHooks): Record<'/admin/health' | '/admin/ready', { GET: Handler }> {
  return {
    // Liveness: the process and every front-end thread answer (a thread that does not
    // within its ask timeout makes this a 503).
    '/admin/health': {
      GET: async (_req, res) => {
        let health: Awaited<ReturnType<AdminView['health']>>;
        try { health = await hooks.view.health(); } catch (e) {
          send(res, 503, { status: 'unhealthy', engine: hooks.engine, reason: (e as Error).message });
          return;
        }
        send(res, 200, { status: 'ok', engine: hooks.engine, ...health, ...(hooks.transcoding ? { transcoding: hooks.transcoding() } : {}) });
      },
    },
    // Readiness: a config is serving, DNS targets are resolved, every upstream has a
    // healthy target (neither failing its health check nor ejected), the transcoding pool
    // runs when routes need it. 503 with every reason otherwise.
    '/admin/ready': {
      GET: async (_req, res) => {
        const reasons: string[] = [];
        try {
          for (const [name, u] of Object.entries(await hooks.view.upstreams()) as Array<[string, { targets: Array<{ health: string }> }]>) {
            if (u.targets.length === 0) reasons.push(`upstream "${name}" has no resolved targets`);
            else if (!u.targets.some((t) => t.health === 'healthy')) reasons.push(`upstream "${name}" has no healthy target (${u.targets.map((t) => t.health).join(', ')})`);
          }
        } catch (e) { reasons.push(`front-end threads did not answer: ${(e as Error).message}`); }
        const needsPool = usesPool(hooks.view.config());
        if (needsPool && hooks.transcoding && hooks.transcoding().workers === 0) reasons.push('the transcoding pool is not running');
        send(res, reasons.length ? 503 : 200, { status: reasons.length ? 'not ready' : 'ready', reasons });
      },
    },
  };
}
