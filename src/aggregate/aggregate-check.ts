// What the schema cannot say about an aggregate route: backend kinds and upstreams, the
// gRPC methods, the `after` graph (unknown names, cycles), and every placeholder (route
// params that exist, steps the backend waits for, identity only behind auth). Every
// problem is listed by its path.
import type { GatewayConfig, RouteConfig } from '../config/types.js';
import { paramNamesOf, patternOf } from '../router/router.js';
import { loadProtosCached, protosReady, type ProtoSource } from '../transcode/proto-registry.js';
import { ancestorsOf, cycleOf, planOf } from './aggregate-plan.js';
import { grpcBackendBinding } from './aggregate-spec.js';

/** Resolve phase: an aggregate route has no upstream of its own, and needs a match. */
export function resolveAggregateRoute(r: RouteConfig, at: string, problems: string[]): void {
  if (r.upstream !== undefined) problems.push(`${at}: give either upstream or aggregate, not both`);
  if (r.transcode) problems.push(`${at}: give either transcode or aggregate, not both`);
  if (!r.match) { problems.push(`${at}.match: an aggregate route needs a match`); r.match = { prefix: '/' }; }
}

export function checkAggregateRoute(r: RouteConfig, at: string, cfg: GatewayConfig, problems: string[]): void {
  const a = r.aggregate!;
  const where = `${at}.aggregate`;
  const plan = planOf(a, problems, where);
  const params = new Set(paramNamesOf(patternOf(r.match)).filter(Boolean));
  const cycle = cycleOf(plan);
  if (cycle) problems.push(`${where}: the backends wait for each other in a cycle (${cycle.join(' → ')})`);
  for (const p of plan.backends) {
    const b = p.config;
    const bAt = `${where}.backends[${p.index}]`;
    const http = b.upstream !== undefined || b.path !== undefined;
    if (http === (b.grpc !== undefined)) { problems.push(`${bAt}: give upstream and path (HTTP) or grpc`); continue; }
    if (http) {
      if (b.upstream === undefined) problems.push(`${bAt}.upstream: an HTTP backend needs an upstream`);
      else if (!(b.upstream in cfg.upstreams)) problems.push(`${bAt}.upstream: unknown upstream "${b.upstream}"`);
      else if (cfg.upstreams[b.upstream]!.protocol === 'grpc') problems.push(`${bAt}.upstream: "${b.upstream}" is a grpc upstream: use grpc`);
      if (b.path === undefined) problems.push(`${bAt}.path: an HTTP backend needs a path`);
    } else {
      const g = b.grpc!;
      const up = cfg.upstreams[g.upstream];
      if (!up) problems.push(`${bAt}.grpc.upstream: unknown upstream "${g.upstream}"`);
      else if (up.protocol !== 'grpc') problems.push(`${bAt}.grpc.upstream: "${g.upstream}" is not a grpc upstream`);
      else if (up.protos && protosReady(up.protos)) checkGrpcBackendMethod(up.protos, g.method, bAt, problems);
      if (b.body !== undefined) problems.push(`${bAt}.body: only for HTTP backends (a gRPC backend's message is grpc.request)`);
      if (b.retry) problems.push(`${bAt}.retry: only for HTTP backends`);
    }
    if (b.allow && b.deny) problems.push(`${bAt}: give either allow or deny, not both`);
    if (b.raw && (b.target || b.allow || b.deny || b.mapping || b.isCollection)) problems.push(`${bAt}.raw: a raw body is not parsed: no target, allow, deny, mapping or isCollection`);
    if (b.required && b.fallback !== undefined) problems.push(`${bAt}.fallback: only an optional backend (required: false) falls back`);
    if (b.timeoutMs !== undefined && b.timeoutMs > a.timeoutMs) problems.push(`${bAt}.timeoutMs: ${b.timeoutMs} is longer than the aggregate's timeoutMs (${a.timeoutMs})`);
    const ancestors = ancestorsOf(plan, p.index);
    for (const ph of p.placeholders) {
      const field = b.path !== undefined && p.path?.includes(ph) ? 'path' : 'grpc.request';
      if (ph.source === 'params' && !params.has(ph.key)) problems.push(`${bAt}.${field}: {${ph.text}}: the route's match.path has no :${ph.key}`);
      if (ph.source === 'identity' && !r.auth?.length) problems.push(`${bAt}.${field}: {${ph.text}}: identity placeholders need auth on the route`);
      if (ph.source === 'steps') {
        const k = plan.backends.findIndex((q) => q.config.name === ph.key);
        if (k < 0) problems.push(`${bAt}.${field}: {${ph.text}}: unknown backend "${ph.key}"`);
        else if (!ancestors.has(k)) problems.push(`${bAt}.${field}: {${ph.text}}: list "${ph.key}" in after (a step's fields exist once it answered)`);
        else if (plan.backends[k]!.config.raw) problems.push(`${bAt}.${field}: {${ph.text}}: "${ph.key}" is raw (not parsed)`);
      }
    }
  }
}

/** A gRPC backend's method is a unary method of its upstream's descriptors. */
export function checkGrpcBackendMethod(protos: ProtoSource, method: string, bAt: string, problems: string[]): void {
  try { grpcBackendBinding(loadProtosCached(protos, '.'), method); } catch (e) { problems.push(`${bAt}.grpc.method: ${(e as Error).message.split('\n')[0]}`); }
}
