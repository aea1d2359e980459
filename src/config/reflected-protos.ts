// The last load step for gRPC upstreams with `protos: { reflection: true }`: their
// descriptors are read from the upstream (network, so not in the synchronous validation),
// then the routes that use them are checked like those of .proto-file upstreams. At start a
// failure is a config error; on reload the previous descriptors of that upstream are kept.
import { log } from '../observability/logger.js';
import { checkGrpcBackendMethod } from '../aggregate/aggregate-check.js';
import { fetchDescriptorSet } from '../transcode/reflection-client.js';
import { channelTlsOf } from '../transcode/grpc-h2-client.js';
import { loadProtosCached } from '../transcode/proto-registry.js';
import { ConfigError, checkTranscodeServices } from './load.js';
import type { GatewayConfig, UpstreamConfig } from './types.js';

const REFLECTION_TIMEOUT_MS = 5000;

async function readFromTargets(up: UpstreamConfig): Promise<Uint8Array> {
  const tls = channelTlsOf(up.tls);
  const failures: string[] = [];
  for (const t of up.targets) {
    try { return await fetchDescriptorSet({ url: t.url!, tls }, REFLECTION_TIMEOUT_MS); } catch (e) {
      failures.push(`${t.url}: ${(e as Error).message}`);
    }
  }
  throw new Error(`server reflection failed (${failures.join('; ')})`);
}

/** Fills in `protos.descriptors` of every reflection upstream; throws ConfigError listing each problem by path. */
export async function readReflectedProtos(cfg: GatewayConfig, source: string, previous?: GatewayConfig): Promise<void> {
  const problems: string[] = [];
  const reflected = Object.entries(cfg.upstreams).filter(([, u]) => u.protocol === 'grpc' && u.protos?.reflection);
  if (!reflected.length) return;
  await Promise.all(reflected.map(async ([name, up]) => {
    try {
      up.protos!.descriptors = Buffer.from(await readFromTargets(up)).toString('base64');
      loadProtosCached(up.protos!, '.');
    } catch (e) {
      const kept = previous?.upstreams[name]?.protos?.descriptors;
      const message = (e as Error).message.split('\n')[0]!;
      if (kept !== undefined) {
        up.protos!.descriptors = kept;
        log.warn({ upstream: name, err: message }, 'reload: server reflection failed; keeping the descriptors read before');
      } else {
        delete up.protos!.descriptors;
        problems.push(`upstreams.${name}.protos.reflection: ${message}`);
      }
    }
  }));
  const ready = new Set(reflected.filter(([, u]) => u.protos!.descriptors !== undefined).map(([n]) => n));
  cfg.routes.forEach((r, i) => {
    const at = `routes[${i}]`;
    if (r.transcode && ready.has(r.transcode.upstream)) checkTranscodeServices(r, at, loadProtosCached(cfg.upstreams[r.transcode.upstream]!.protos!, '.'), problems);
    r.aggregate?.backends.forEach((b, j) => {
      if (b.grpc && ready.has(b.grpc.upstream)) checkGrpcBackendMethod(cfg.upstreams[b.grpc.upstream]!.protos!, b.grpc.method, `${at}.aggregate.backends[${j}]`, problems);
    });
  });
  if (problems.length) throw new ConfigError(problems, source);
}
