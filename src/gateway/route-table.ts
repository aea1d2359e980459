// A config compiled into an immutable table: the router, the upstream pools, and per route
// its compiled policies (hook chains in request order) and its target. Every policy
// factory runs here, at load, never on a request. A reload builds a new table and swaps
// one reference; a retired table disposes of what it made once its last request is done.
import type { GatewayConfig, RouteConfig, RetryConfig } from '../config/types.js';
import { Router, paramNamesOf, patternOf, type Routable } from '../router/router.js';
import { compilePredicates } from '../router/predicates.js';
import { parsePathPattern } from '../router/path-pattern.js';
import { Upstream } from '../upstream/upstream.js';
import { RetryBudget } from '../upstream/retry-budget.js';
import { DEFAULT_METADATA, TranscodeRoute } from '../transcode/transcode-route.js';
import { TranscodeTarget, type TranscodeEnv } from '../transcode/transcode-target.js';
import { loadProtosCached } from '../transcode/proto-registry.js';
import { Cancellations } from '../transcode/cancellation.js';
import { configure as configureInline, useCancelFlags } from '../transcode/transcode-call.js';
import { configureAggregates } from '../aggregate/compose.js';
import { poolDataOf, usesPool } from '../transcode/pool-data.js';
import type protobuf from 'protobufjs';
import { blockListOf } from '../proxy/client-address.js';
import { HttpTarget, type HttpTargetSettings, type PathBuilder } from '../proxy/http-target.js';
import { WebSocketTarget } from '../websocket/websocket-target.js';
import { websocketSettings } from '../websocket/websocket-settings.js';
import { AggregateTarget, type BackendTarget } from '../aggregate/aggregate-target.js';
import { planOf } from '../aggregate/aggregate-plan.js';
import { grpcBackendBinding } from '../aggregate/aggregate-spec.js';
import type { BlockList } from 'node:net';
import { ENCODED_SLASH, PATH_FLAG_NAMES } from '../router/normalise-path.js';
import type { CompileEnv, Policy, PolicyFactory, SharedTables } from '../pipeline/policy.js';
import type { Target } from '../pipeline/target.js';
import { policies } from '../policies/registry.js';
import type { Observer } from '../observability/observer.js';
import { poolOffload } from '../transcode/message-offload.js';

export interface CompiledRoute extends Routable {
  readonly name: string;
  /** the compiled policies this route uses, by factory id */
  readonly policies: ReadonlyMap<string, Policy>;
  /** hooks in request order (empty: the target is called directly) */
  readonly onRequest: readonly Policy[];
  readonly onLog: readonly Policy[] | null;
  readonly target: Target;
  /** path flags (normalise-path.ts) this route accepts */
  readonly allowInPath: number;
  /** the path pattern (http.route in spans) */
  readonly pattern: string;
  /** write access-log lines for this route */
  readonly accessLog: boolean;
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

function pathBuilderOf(r: RouteConfig, pattern: string): PathBuilder | null {
  if (r.rewrite !== undefined) return rewriter(r.rewrite);
  if (r.stripPrefix === true) return stripper(staticPrefixOf(pattern));
  if (typeof r.stripPrefix === 'string') return stripper(r.stripPrefix.replace(/\/$/, ''));
  return null;
}

let inlineFlags: SharedArrayBuffer | null = null;

/** The transcoding side of a table: the process's pool, and (inlineBelowBytes, inlineWebSocketBelowBytes) this thread compiled for the calls it runs itself. */
function transcodeEnvOf(config: GatewayConfig, shared: SharedTables, gen: number | null): TranscodeEnv {
  if (!shared.transcoder || gen === null) throw new Error('a config with transcoding routes needs the transcoding pool (no generation was prepared)');
  const inlineBelow = config.transcoding.inlineBelowBytes;
  // bridge calls in this thread only when a route takes them: else it compiles nothing for them
  const socketsBelow = config.routes.some((r) => r.transcode?.websocket) ? config.transcoding.inlineWebSocketBelowBytes : 0;
  // compositions in this thread only when there are aggregate routes
  const composeBelow = config.routes.some((r) => r.aggregate) ? config.transcoding.inlineComposeBelowBytes : 0;
  if (inlineBelow > 0 || socketsBelow > 0 || composeBelow > 0) {
    if (inlineFlags !== shared.cancelFlags) { useCancelFlags(shared.cancelFlags, false); inlineFlags = shared.cancelFlags; }
    const data = poolDataOf(config, shared.grpcTargets);
    if (inlineBelow > 0 || socketsBelow > 0) configureInline(gen, data);
    if (composeBelow > 0) configureAggregates(gen, data.aggregates);
  }
  return Object.freeze({ transcoder: shared.transcoder, gen, cancellations: new Cancellations(shared.cancelFlags), inlineBelow, answerOffload: inlineBelow > 0 ? poolOffload(shared.transcoder, inlineBelow) : null, socketOffload: socketsBelow > 0 ? poolOffload(shared.transcoder, socketsBelow) : null, compressAbove: config.transcoding.compressAboveBytes, composeBelow });
}

export class RouteTable {
  readonly router: Router<CompiledRoute>;
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly routes: readonly CompiledRoute[];
  /** gateway-wide hooks, before the 404/405 (ip filter, CORS preflights) */
  readonly gatewayChain: readonly Policy[];
  /** client-sent identity headers (X-Consumer-Id, claim headers, ...) removed on every route */
  readonly identityStrip: ReadonlySet<string>;
  /** proxies whose X-Forwarded-For is believed */
  readonly trustedProxies: BlockList | null;
  /** how this table's transcoding routes reach the pool; null without such routes */
  readonly transcoding: TranscodeEnv | null;
  /** what the policies compiled for the whole table (consumers, authenticators, plans) */
  readonly state = new Map<string, unknown>();
  /** this thread's metrics, access log and tracing (kept across tables) */
  readonly observer: Observer;
  /** query parameters and headers the auth config reads credentials from: never logged */
  readonly credentialParams: ReadonlySet<string>;
  readonly credentialHeaders: ReadonlySet<string>;
  private readonly env: CompileEnv;
  private readonly factories: readonly PolicyFactory[];

  /** `gen`: the transcoding pool's generation for this config (null: it has no transcoding routes) */
  constructor(readonly config: GatewayConfig, shared: SharedTables, gen: number | null = null) {
    this.trustedProxies = config.trustedProxies?.length ? blockListOf(config.trustedProxies) : null;
    this.observer = shared.observer;
    const auths = Object.values(config.auth);
    this.credentialParams = new Set(auths.flatMap((a) => (a.query ? [a.query] : [])));
    this.credentialHeaders = new Set(auths.map((a) => a.header.toLowerCase()));
    const ids = config.identityHeaders;
    const claimHeaders = Object.values(config.auth).flatMap((a) => (a.type === 'jwt' ? Object.values(a.claimHeaders ?? {}) : []));
    const identity = [ids.consumer, ids.groups, ids.tenant].map((h) => h.toLowerCase());
    this.identityStrip = new Set([...identity, ...claimHeaders.map((h) => h.toLowerCase())]);
    const upstreams = new Map<string, Upstream>();
    for (const [name, u] of Object.entries(config.upstreams)) if (u.protocol !== 'grpc') upstreams.set(name, new Upstream(name, u));
    this.upstreams = upstreams;
    const env: CompileEnv = (this.env = { config, shared, tableState: this.state });
    const factories = (this.factories = policies());
    for (const f of factories) f.prepareTable?.(env);
    this.gatewayChain = Object.freeze(factories.map((f) => f.compileGateway?.(env) ?? null).filter((p): p is Policy => p?.onRequest !== undefined));
    this.transcoding = usesPool(config) ? transcodeEnvOf(config, shared, gen) : null;
    const roots = new Map<string, protobuf.Root>();
    const rootOf = (name: string) => {
      let root = roots.get(name);
      if (!root) roots.set(name, (root = loadProtosCached(config.upstreams[name]!.protos!, '.')));
      return root;
    };
    this.routes = config.routes.map((r, i) => this.compileRoute(r, i, rootOf, identity));
    this.router = new Router(
      config.routes.map((r, i) => ({
        route: this.routes[i]!,
        hosts: r.match.host === undefined ? null : Array.isArray(r.match.host) ? r.match.host : [r.match.host],
        path: patternOf(r.match),
      })),
    );
  }

  private compileRoute(r: RouteConfig, index: number, rootOf: (upstream: string) => protobuf.Root, identity: string[]): CompiledRoute {
    const name = r.name ?? `route-${index}`;
    const compiled = new Map<string, Policy>();
    for (const f of this.factories) {
      const p = f.compile(r, name, this.env);
      if (p) compiled.set(f.id, p);
    }
    const list = [...compiled.values()];
    const onResponse = list.filter((p) => p.onResponse);
    const onLog = list.filter((p) => p.onLog);
    const pattern = patternOf(r.match);
    const target: Target = r.aggregate
      ? this.compileAggregate(r, name, rootOf, identity, onResponse)
      : r.websocket
        ? new WebSocketTarget(Object.freeze({
          upstream: this.upstreams.get(r.upstream)!,
          buildPath: pathBuilderOf(r, pattern),
          handshakeMs: this.timeoutsOf(r, r.upstream).totalMs,
          preserveHost: r.preserveHost,
          ws: websocketSettings(r.websocket),
          counters: this.observer.metrics?.websocket(name) ?? null,
        }))
      : r.transcode
        ? new TranscodeTarget(new TranscodeRoute(r, rootOf, identity), this.transcoding!, this.timeoutsOf(r, r.upstream).totalMs, onResponse, r.transcode.websocket ? this.observer.metrics?.websocket(name) ?? null : null)
        : new HttpTarget(Object.freeze({
          upstream: this.upstreams.get(r.upstream)!,
          buildPath: pathBuilderOf(r, pattern),
          timeouts: this.timeoutsOf(r, r.upstream),
          retry: r.retry ?? DEFAULT_RETRY,
          retryBudget: new RetryBudget((r.retry ?? DEFAULT_RETRY).budgetPercent / 100),
          preserveHost: r.preserveHost,
          onResponse,
        }));
    return Object.freeze({
      name,
      methods: r.match.methods ? new Set(r.match.methods.map((m) => m.toUpperCase())) : null,
      headerPredicates: compilePredicates(r.match.headers, true),
      queryPredicates: compilePredicates(r.match.query, false),
      paramNames: paramNamesOf(pattern),
      policies: compiled,
      onRequest: Object.freeze(list.filter((p) => p.onRequest)),
      onLog: onLog.length ? Object.freeze(onLog) : null,
      target,
      // A transcoding route's path becomes field values by HttpRule rules (a multi-segment
      // variable keeps %2F): no upstream re-reads it as a path, so an encoded slash is fine there.
      allowInPath: r.allowInPath.reduce((bits, flag) => bits | PATH_FLAG_NAMES[flag]!, r.transcode ? ENCODED_SLASH : 0),
      pattern,
      accessLog: r.accessLog,
    });
  }

  /** Route values win over the upstream's defaults. */
  private timeoutsOf(r: Pick<RouteConfig, 'timeouts' | 'timeoutMs'>, upstream: string): HttpTargetSettings['timeouts'] {
    const upCfg = this.config.upstreams[upstream]!;
    return Object.freeze({
      connectMs: r.timeouts?.connectMs ?? upCfg.timeouts?.connectMs,
      firstByteMs: r.timeouts?.firstByteMs ?? upCfg.timeouts?.firstByteMs,
      totalMs: r.timeouts?.totalMs ?? r.timeoutMs ?? upCfg.timeouts?.totalMs ?? upCfg.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
  }

  /** An aggregate route: each HTTP backend gets the settings a proxied route to its upstream would (its own timeout and retries). */
  private compileAggregate(r: RouteConfig, name: string, rootOf: (upstream: string) => protobuf.Root, identity: string[], onResponse: Policy[]): AggregateTarget {
    const a = r.aggregate!;
    const targets: BackendTarget[] = a.backends.map((b) => {
      if (b.grpc) return { grpc: { upstream: b.grpc.upstream, binding: grpcBackendBinding(rootOf(b.grpc.upstream), b.grpc.method) } };
      const base = this.timeoutsOf({}, b.upstream!);
      const retry: RetryConfig = b.retry ? { ...b.retry, bufferBodyBytes: 0 } : DEFAULT_RETRY;
      return {
        http: Object.freeze({
          upstream: this.upstreams.get(b.upstream!)!,
          buildPath: null,
          timeouts: Object.freeze({ ...base, totalMs: b.timeoutMs ?? a.timeoutMs }),
          retry,
          retryBudget: new RetryBudget(retry.budgetPercent / 100),
          preserveHost: false,
          onResponse: [],
        }),
      };
    });
    const metadata = new Set([...DEFAULT_METADATA, ...identity]);
    return new AggregateTarget(name, a, planOf(a), targets, this.transcoding!, metadata, onResponse);
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
    for (const f of this.factories) f.disposeTable?.(this.env);
    await Promise.all([...this.upstreams.values()].map((u) => u.close()));
  }

  async destroy(err?: Error): Promise<void> {
    for (const f of this.factories) f.disposeTable?.(this.env);
    await Promise.all([...this.upstreams.values()].map((u) => u.destroy(err)));
  }
}
