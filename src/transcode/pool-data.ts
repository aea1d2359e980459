// What a configuration asks of the transcoding pool: for each gRPC upstream a transcoding
// route calls, its protos, its targets (weighted), TLS, and every binding the routes expose
// — so a worker compiles all of it when the configuration arrives, not on a first request.
import type { GatewayConfig } from '../config/types.js';
import type { PoolData, TaskBinding } from './task.js';
import { bindingsOf, loadProtosCached } from './proto-registry.js';
import { taskBindingOf } from './transcode-route.js';
import { grpcTargetUrl } from './grpc-target-state.js';
import { channelTlsOf } from './grpc-h2-client.js';
import { aggregateSpecOf, grpcBackendBinding } from '../aggregate/aggregate-spec.js';

/** The configuration needs the pool: it has transcoding or aggregate routes. */
export function usesPool(config: GatewayConfig): boolean {
  return config.routes.some((r) => r.transcode || r.aggregate);
}

export function poolDataOf(config: GatewayConfig, grpcTargets: SharedArrayBuffer): PoolData {
  const data: PoolData = { upstreams: {}, maxMessageBytes: config.transcoding.maxMessageBytes, aggregates: {}, grpcTargets };
  const bindings = new Map<string, Map<string, TaskBinding>>();
  for (const r of config.routes) {
    const t = r.transcode;
    if (!t) continue;
    const u = config.upstreams[t.upstream]!;
    const root = loadProtosCached(u.protos!, '.');
    let list = bindings.get(t.upstream);
    if (!list) bindings.set(t.upstream, (list = new Map()));
    for (const b of bindingsOf(root, t.services, t.fallback)) {
      const tb = taskBindingOf(b);
      list.set(`${tb.grpcPath}|${tb.httpMethod}|${tb.template}`, tb);
    }
  }
  config.routes.forEach((r, i) => {
    if (!r.aggregate) return;
    const name = r.name ?? `route-${i}`;
    data.aggregates[name] = aggregateSpecOf(r.aggregate);
    for (const b of r.aggregate.backends) {
      if (!b.grpc) continue;
      const root = loadProtosCached(config.upstreams[b.grpc.upstream]!.protos!, '.');
      let list = bindings.get(b.grpc.upstream);
      if (!list) bindings.set(b.grpc.upstream, (list = new Map()));
      const tb = grpcBackendBinding(root, b.grpc.method);
      list.set(`${tb.grpcPath}|${tb.httpMethod}|${tb.template}`, tb);
    }
  });
  for (const [name, list] of bindings) {
    const u = config.upstreams[name]!;
    // Weighted round-robin: a target appears `weight` times, spread over the cycle.
    const slots: string[] = [];
    const max = Math.max(...u.targets.map((t) => t.weight));
    for (let round = 0; round < max; round++) for (const t of u.targets) if (round < t.weight) slots.push(grpcTargetUrl(t));
    const tls = channelTlsOf(u.tls);
    data.upstreams[name] = { protos: u.protos!, baseDir: '.', targets: slots, tls, compression: u.compression, bindings: [...list.values()], outlier: u.outlier, breaker: u.breaker, http2: u.http2 };
  }
  return data;
}
