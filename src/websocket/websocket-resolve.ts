// ws:// and wss:// targets: an upstream of WebSocket servers may name them so. They become
// http:// and https:// origins (health checks and the handshake speak HTTP first), and
// every route to such an upstream is a WebSocket route unless it says `websocket: false`.
import type { GatewayConfig } from '../config/types.js';

const WS_SCHEME = /^wss?:\/\//i;

export function resolveWebSocketTargets(cfg: GatewayConfig): void {
  const wsUpstreams = new Set<string>();
  for (const [name, up] of Object.entries(cfg.upstreams ?? {})) {
    if (up.protocol === 'grpc' || !Array.isArray(up.targets)) continue;
    for (const t of up.targets) {
      if (typeof t.url !== 'string' || !WS_SCHEME.test(t.url)) continue;
      t.url = t.url.replace(/^ws/i, 'http');
      wsUpstreams.add(name);
    }
  }
  for (const r of cfg.routes) {
    if (r.websocket === undefined && !r.transcode && !r.aggregate && typeof r.upstream === 'string' && wsUpstreams.has(r.upstream)) r.websocket = true;
  }
}
