// The front end in this thread: one Gateway and one engine (uws or node).
import type { GatewayConfig } from '../config/types.js';
import { Gateway } from './gateway.js';
import { UwsEngine } from '../server/uws-engine.js';
import { NodeEngine } from '../server/node-engine.js';
import type { Engine, EngineOptions } from '../server/types.js';
import type { Front } from './front.js';
import type { TranscodeHost } from '../transcode/transcode-host.js';
import { grpcUpstreamsStatus } from '../transcode/grpc-target-state.js';
import { drain } from './drain.js';
import { Observer } from '../observability/observer.js';
import type { MetricsStore } from '../observability/metrics/store.js';
import { consumerUsage, limiterStatus, upstreamStatus } from './admin-state.js';

export function engineOptions(config: GatewayConfig, port = config.listen.port): EngineOptions {
  return {
    host: config.listen.host,
    port,
    maxHeaderBytes: config.limits.maxHeaderBytes,
    headersTimeoutMs: config.limits.headersTimeoutMs,
    maxUriBytes: config.limits.maxUriBytes,
    maxConnections: config.limits.maxConnections,
    idleTimeoutMs: config.limits.idleTimeoutMs,
    requestTimeoutMs: config.limits.requestTimeoutMs,
    tls: config.listen.tls,
  };
}

/** `host`: the process's transcoding pool; `generation`: its generation for `config`. */
export async function startSingleFront(config: GatewayConfig, host: TranscodeHost, generation: number | null, metrics: MetricsStore | null): Promise<Front> {
  const observer = Observer.create(config, metrics, 'main');
  const gateway = new Gateway(config, { transcoder: host, generation, cancelFlags: host.cancelFlags, grpcTargets: host.grpcTargets, observer });
  let engine: Engine;
  try {
    engine = config.engine === 'uws' ? new UwsEngine(engineOptions(config), gateway.handle) : new NodeEngine(engineOptions(config), gateway.handle);
  } catch (e) {
    void gateway.destroy();
    void observer.close();
    throw e;
  }
  await gateway.ready();
  const port = await engine.listen();
  return {
    engineName: engine.name,
    port,
    threads: 1,
    config: () => gateway.config,
    health: async () => {
      const connections = engine.openConnections();
      const websockets = engine.openWebSockets();
      return connections === null ? { inflight: gateway.inflight, threads: 1, websockets } : { inflight: gateway.inflight, threads: 1, connections, websockets };
    },
    reopenLogs: () => observer.reopen(),
    upstreams: async () => ({ ...upstreamStatus(gateway), ...grpcUpstreamsStatus(gateway.config, host.grpcTargets) }),
    ratelimit: async () => limiterStatus(gateway),
    usage: async (id) => consumerUsage(gateway, id),
    apply: (next) => gateway.reload(next),
    stop: async (deadline) => { await drain(gateway, engine, deadline); await observer.close(); },
  };
}
