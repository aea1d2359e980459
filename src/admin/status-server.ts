// observability.status.listen: GET /admin/health and /admin/ready on a listener of their own,
// without the admin token (a kubelet's or a load balancer's probe cannot carry a secret).
// It answers nothing else, and nothing to a browser page (as the metrics listener).
import http from 'node:http';
import { fail, fromBrowser } from './answer.js';
import { probeEndpoints, type ProbeHooks } from './probes.js';

export function createStatusServer(hooks: ProbeHooks): http.Server {
  const probes: Record<string, { GET: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> } | undefined> = probeEndpoints(hooks);
  return http.createServer((req, res) => {
    req.resume();
    if (fromBrowser(req)) { fail(res, 'forbidden', 'browser requests are refused'); return; }
    const probe = probes[(req.url ?? '/').split('?')[0]!];
    if (!probe) { fail(res, 'not_found', 'only /admin/health and /admin/ready are served here'); return; }
    if (req.method !== 'GET') { fail(res, 'method_not_allowed', 'use GET', {}, { allow: 'GET' }); return; }
    probe.GET(req, res).catch(() => { if (!res.headersSent) fail(res, 'internal_error', 'probe failed'); });
  });
}
