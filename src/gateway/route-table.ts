// A config compiled into an immutable table: router, upstream pools and per-route
// precomputed pieces. A reload builds a new table and swaps one reference.
import type { GatewayConfig, HeaderOps, RouteConfig } from '../config/types.js';
import { Router, paramNamesOf, patternOf, type Routable } from '../router/router.js';
import { compilePredicates } from '../router/predicates.js';
import { parsePathPattern } from '../router/path-pattern.js';
import { compileHeaderOps, type CompiledHeaderOps } from '../proxy/header-ops.js';
import { Upstream } from '../upstream/upstream.js';
import { RetryBudget } from '../upstream/retry-budget.js';
import type { RetryConfig } from '../config/types.js';
import { RouteLimits } from '../ratelimit/route-limits.js';
import { PlanPolicies } from '../ratelimit/plan-limits.js';
import { ConsumerRegistry } from '../auth/consumers.js';
import { RouteAuth } from '../auth/route-auth.js';
import type { Authenticator } from '../auth/identity.js';
import { ApiKeyAuthenticator } from '../auth/api-key-auth.js';
import { JwtAuthenticator } from '../auth/jwt-auth.js';
import { TranscodeRoute } from '../transcode/transcode-route.js';
import { TranscodePool } from '../transcode/transcode-pool.js';
import { loadProtos } from '../transcode/proto-registry.js';
import type protobuf from 'protobufjs';
import { IpFilter, blockListOf } from '../auth/ip-filter.js';
import { CorsPolicy } from '../auth/cors.js';
import { RequestValidator } from '../auth/request-validation.js';
import type { BlockList } from 'node:net';
import { ENCODED_SLASH, PATH_FLAG_NAMES } from '../router/normalise-path.js';

export type PathBuilder = (path: string, params: Record<string, string>, wildcard: string | null) => string;

export interface CompiledRoute extends Routable {
  readonly name: string;
  /** null on transcoding routes (their gRPC upstream lives in the pool's workers) */
  readonly upstream: Upstream | null;
  readonly transcode: TranscodeRoute | null;
  /** null: forward the path as received */
  readonly buildPath: PathBuilder | null;
  readonly requestOps: CompiledHeaderOps | null;
  readonly responseOps: CompiledHeaderOps | null;
  readonly timeouts: { readonly connectMs?: number; readonly firstByteMs?: number; readonly totalMs: number };
  readonly retry: RetryConfig;
  readonly retryBudget: RetryBudget;
  readonly limits: RouteLimits | null;
  readonly auth: RouteAuth | null;
  readonly ipFilter: IpFilter | null;
  readonly cors: CorsPolicy | null;
  readonly validator: RequestValidator | null;
  readonly preserveHost: boolean;
  /** path flags (normalise-path.ts) this route accepts */
  readonly allowInPath: number;
}

/** Without a retry block: connect failures are retried once (safe for any method). */
const DEFAULT_RETRY: RetryConfig = { attempts: 1, on: ['connect-failure'], backoffMs: 25, budgetPercent: 20, bufferBodyBytes: 0 };

const DEFAULT_TIMEOUT_MS = 30_000;

function staticPrefixOf(pattern: string): string {
  const out: string[] = [];
  for (const s of parsePathPattern(pattern)) {
    if (s.kind !== 'static') break;
    out.push(s.value);
  }
  const prefix = '/' + out.join('/');
  return prefix.length > 1 && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
}

function stripper(prefix: string): PathBuilder {
  if (prefix === '/' || prefix === '') return (path) => path;
  return (path) => {
    if (!path.startsWith(prefix)) return path;
    const rest = path.slice(prefix.length);
    return rest === '' ? '/' : rest.startsWith('/') ? rest : path;
  };
}

function rewriter(template: string): PathBuilder {
  const parts = template.split('/').slice(1);
  return (_path, params, wildcard) =>
    '/' + parts.map((p) => (p === '*' ? wildcard ?? '' : p.startsWith(':') ? encodeURIComponent(params[p.slice(1)] ?? '') : p)).join('/');
}

/** Gateway-wide response edits first, then the route's (a route's add wins). */
function mergeOps(global: HeaderOps | undefined, route: HeaderOps | undefined): HeaderOps | undefined {
  if (!global) return route;
  if (!route) return global;
  return { remove: [...(global.remove ?? []), ...(route.remove ?? [])], add: { ...global.add, ...route.add } };
}

function compileRoute(r: RouteConfig, index: number, upstream: Upstream | null, authenticators: ReadonlyMap<string, Authenticator>, globalResponse: HeaderOps | undefined, config: GatewayConfig, identity: string[], rootOf: (upstream: string) => protobuf.Root): CompiledRoute {
  const upCfg = config.upstreams[r.upstream]!;
  const pattern = patternOf(r.match);
  let buildPath: PathBuilder | null = null;
  if (r.rewrite !== undefined) buildPath = rewriter(r.rewrite);
  else if (r.stripPrefix === true) buildPath = stripper(staticPrefixOf(pattern));
  else if (typeof r.stripPrefix === 'string') buildPath = stripper(r.stripPrefix.replace(/\/$/, ''));
  return Object.freeze({
    name: r.name ?? `route-${index}`,
    methods: r.match.methods ? new Set(r.match.methods.map((m) => m.toUpperCase())) : null,
    headerPredicates: compilePredicates(r.match.headers, true),
    queryPredicates: compilePredicates(r.match.query, false),
    paramNames: paramNamesOf(pattern),
    upstream,
    transcode: r.transcode ? new TranscodeRoute(r, rootOf, identity) : null,
    buildPath,
    requestOps: compileHeaderOps(r.requestHeaders),
    responseOps: compileHeaderOps(mergeOps(globalResponse, r.responseHeaders)),
    // route values win over the upstream's defaults
    timeouts: {
      connectMs: r.timeouts?.connectMs ?? upCfg.timeouts?.connectMs,
      firstByteMs: r.timeouts?.firstByteMs ?? upCfg.timeouts?.firstByteMs,
      totalMs: r.timeouts?.totalMs ?? r.timeoutMs ?? upCfg.timeouts?.totalMs ?? upCfg.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    },
    retry: r.retry ?? DEFAULT_RETRY,
    retryBudget: new RetryBudget((r.retry ?? DEFAULT_RETRY).budgetPercent / 100),
    limits: r.rateLimit?.length ? new RouteLimits(r.name ?? `route-${index}`, r.rateLimit, config.rateLimit) : null,
    auth: r.auth?.length ? new RouteAuth(r, authenticators) : null,
    ipFilter: r.ipFilter ? new IpFilter(r.ipFilter) : null,
    cors: r.cors ? new CorsPolicy(r.cors) : null,
    validator: r.validate ? new RequestValidator(r.validate) : null,
    preserveHost: r.preserveHost,
    // A transcoding route's path becomes field values by HttpRule rules (a multi-segment
    // variable keeps %2F): no upstream re-reads it as a path, so an encoded slash is fine there.
    allowInPath: r.allowInPath.reduce((bits, name) => bits | PATH_FLAG_NAMES[name]!, r.transcode ? ENCODED_SLASH : 0),
  });
}

export class RouteTable {
  readonly router: Router<CompiledRoute>;
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly routes: readonly CompiledRoute[];
  /** removes client-sent identity headers (X-Consumer-Id, ...) */
  readonly identityStrip: CompiledHeaderOps;
  readonly ipFilter: IpFilter | null;
  /** proxies whose X-Forwarded-For is believed */
  readonly trustedProxies: BlockList | null;
  readonly consumers: ConsumerRegistry;
  /** runs the transcoding routes' calls; null without such routes */
  readonly transcodePool: TranscodePool | null;
  readonly plans: PlanPolicies;
  /** identity header names, lower-cased */
  readonly identity: { consumer: string; groups: string; tenant: string };

  constructor(readonly config: GatewayConfig) {
    this.ipFilter = config.ipFilter ? new IpFilter(config.ipFilter) : null;
    this.trustedProxies = config.trustedProxies?.length ? blockListOf(config.trustedProxies) : null;
    const ids = config.identityHeaders;
    this.identity = { consumer: ids.consumer.toLowerCase(), groups: ids.groups.toLowerCase(), tenant: ids.tenant.toLowerCase() };
    // Identity and claim headers come from the gateway only: client-sent copies are removed.
    const claimHeaders = Object.values(config.auth).flatMap((a) => (a.type === 'jwt' ? Object.values(a.claimHeaders ?? {}) : []));
    this.identityStrip = { remove: new Set([...Object.values(this.identity), ...claimHeaders.map((h) => h.toLowerCase())]), add: [] };
    const upstreams = new Map<string, Upstream>();
    for (const [name, u] of Object.entries(config.upstreams)) if (u.protocol !== 'grpc') upstreams.set(name, new Upstream(name, u));
    this.upstreams = upstreams;
    const consumers = (this.consumers = new ConsumerRegistry(config.consumers));
    this.plans = new PlanPolicies(config.plans, config.rateLimit);
    const authenticators = new Map<string, Authenticator>();
    for (const [name, a] of Object.entries(config.auth)) {
      authenticators.set(name, a.type === 'jwt' ? new JwtAuthenticator(name, a, consumers) : new ApiKeyAuthenticator(a, consumers));
    }
    for (const a of authenticators.values()) void a.start?.(); // JWKS prefetch; the first request waits for it if needed
    const roots = new Map<string, protobuf.Root>();
    const rootOf = (name: string) => {
      let root = roots.get(name);
      if (!root) roots.set(name, (root = loadProtos(config.upstreams[name]!.protos!, '.')));
      return root;
    };
    this.routes = config.routes.map((r, i) => compileRoute(r, i, upstreams.get(r.upstream) ?? null, authenticators, config.responseHeaders, config, Object.values(this.identity), rootOf));
    this.transcodePool = this.routes.some((r) => r.transcode) ? new TranscodePool(config) : null;
    this.router = new Router(
      config.routes.map((r, i) => ({
        route: this.routes[i]!,
        hosts: r.match.host === undefined ? null : Array.isArray(r.match.host) ? r.match.host : [r.match.host],
        path: patternOf(r.match),
      })),
    );
  }

  /** Resolves once every upstream has its first DNS answers. */
  ready(): Promise<void> {
    return Promise.all([...this.upstreams.values()].map((u) => u.ready)).then(() => undefined);
  }

  /** Requests that started on this table and have not finished (held for a token, a body, a retry, ...). */
  private inflight = 0;
  private onIdle: (() => void) | null = null;

  enter(): void { this.inflight++; }
  leave(): void {
    if (--this.inflight === 0 && this.onIdle) { const cb = this.onIdle; this.onIdle = null; cb(); }
  }

  /** Once the last request that started on this table has finished, closes its pools. */
  async retire(): Promise<void> {
    if (this.inflight > 0) await new Promise<void>((resolve) => { this.onIdle = resolve; });
    await Promise.all([...this.upstreams.values()].map((u) => u.close()));
    await this.transcodePool?.close();
  }

  async destroy(err?: Error): Promise<void> {
    await Promise.all([...this.upstreams.values()].map((u) => u.destroy(err)));
    await this.transcodePool?.destroy();
  }
}
