// observability.metrics.listen: GET /metrics on a listener of its own, for scrapers that
// cannot send the admin token. It answers nothing else, and nothing to a browser page
// (a request with an Origin header, or a cross-site fetch, is refused: no DNS-rebinding read).
import http from 'node:http';
import { fail, fromBrowser } from './answer.js';
import { OPENMETRICS_TYPE, PROMETHEUS_TYPE, wantsOpenMetrics } from '../observability/metrics/exposition.js';

export type MetricsRenderer = (openMetrics: boolean) => Promise<string>;

/** Answers a GET /metrics (admin listener or its own). */
export function serveMetrics(req: http.IncomingMessage, res: http.ServerResponse, renderer: MetricsRenderer): void {
  const open = wantsOpenMetrics(req.headers.accept);
  renderer(open).then(
    (text) => {
      res.writeHead(200, { 'content-type': open ? OPENMETRICS_TYPE : PROMETHEUS_TYPE, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : text);
    },
    () => { if (!res.headersSent) fail(res, 'internal_error', 'metrics could not be rendered'); },
  );
}

export function createMetricsServer(renderer: MetricsRenderer): http.Server {
  return http.createServer((req, res) => {
    req.resume();
    if (fromBrowser(req)) { fail(res, 'forbidden', 'browser requests are refused'); return; }
    if ((req.url ?? '/').split('?')[0] !== '/metrics') { fail(res, 'not_found', 'only /metrics is served here'); return; }
    if (req.method !== 'GET' && req.method !== 'HEAD') { fail(res, 'method_not_allowed', 'use GET', {}, { allow: 'GET' }); return; }
    serveMetrics(req, res, renderer);
  });
}
