// The gateway core: per request, check the head (framing, target, path), make its context,
// route it, run the gateway-wide and the route's policies (src/pipeline/runner.ts), and
// hand it to the route's target. No policy lives here: each is a folder under
// src/policies/. Holds the current RouteTable; a reload swaps it, and requests already
// running keep the table (and pools) they started with.
import { GatewayError } from '../errors.js';
import type { GatewayConfig } from '../config/types.js';
import type { BodySource, RequestHead, ResponseSink } from '../server/types.js';
import { removeHeaders, scanRequestHeaders } from '../proxy/request-headers.js';
import { checkQuery, normalisePath } from '../router/normalise-path.js';
import { clientAddress } from '../proxy/client-address.js';
import { RouteTable } from './route-table.js';
import { GcraTable, randomSeed } from '../ratelimit/gcra-table.js';
import { QuotaTable } from '../ratelimit/quota-table.js';
import { RedisLimiter } from '../ratelimit/redis-limiter.js';
import { RequestCtx } from '../pipeline/request-ctx.js';
import { runChain } from '../pipeline/runner.js';
import { sendError } from '../pipeline/error-answer.js';
import type { SharedTables } from '../pipeline/policy.js';
import type { Transcoder } from '../transcode/transcoder.js';
import { allocateCancelFlags } from '../transcode/cancellation.js';
import { allocateGrpcTargetState } from '../transcode/grpc-target-state.js';
import { Observer } from '../observability/observer.js';

export { sendError };

const METHOD = /^[A-Z]{1,20}$/;

const PATH_FLAG_TEXT = ['', 'an encoded slash (%2F or %5C)', 'a backslash', '', 'a ";" path parameter'];

/** The state every front-end thread shares: SharedArrayBuffers, made once by the main thread. */
export interface SharedState {
  limiter: SharedArrayBuffer; quotas: SharedArrayBuffer;
  /** the limiter's hash seed, made at process start */ seed: number;
  /** the transcoding cancel flags (cancellation.ts) */ cancelFlags: SharedArrayBuffer;
  /** gRPC targets' health, ejections and counts (grpc-target-state.ts) */ grpcTargets: SharedArrayBuffer;
}

export interface GatewayOptions {
  /** the limiter, quota and cancel buffers of the process (front-end threads share them) */
  shared?: SharedState;
  /** the transcoding pool, or this thread's way to it */
  transcoder?: Transcoder | null;
  /** the pool generation of the first config (from the pool's configure) */
  generation?: number | null;
  /** the pool's cancel flags, when `shared` does not carry them (the front end in the main thread) */
  cancelFlags?: SharedArrayBuffer;
  /** the pool's gRPC target state, likewise */
  grpcTargets?: SharedArrayBuffer;
  /** this thread's metrics, access log and tracing (default: none) */
  observer?: Observer;
}

const TRACE_HEADERS: ReadonlySet<string> = new Set(['traceparent', 'tracestate']);

/** The headers the gateway itself adds to every upstream request, after the policies ran. */
function addForwardingHeaders(ctx: RequestCtx): void {
  const { head, scanned } = ctx;
  const trace = ctx.trace;
  if (trace) {
    // This hop's traceparent replaces the client's (a valid tracestate goes on with it).
    if (trace.clientSent) removeHeaders(ctx.upstreamHeaders, TRACE_HEADERS);
    if (trace.parent?.tracestate) ctx.upstreamHeaders.push('tracestate', trace.parent.tracestate);
    ctx.upstreamHeaders.push('traceparent', trace.upstreamHeader());
    trace.headerAt = ctx.upstreamHeaders.length - 1;
  }
  ctx.upstreamHeaders.push(
    'x-request-id', ctx.requestId,
    'x-forwarded-for', scanned.xForwardedFor ? `${scanned.xForwardedFor}, ${head.remoteAddress}` : head.remoteAddress,
    'x-forwarded-proto', head.scheme,
  );
  if (scanned.hostHeader) ctx.upstreamHeaders.push('x-forwarded-host', scanned.hostHeader);
}

/** Past the route's policies: the forwarding headers, then the target. */
function toTarget(ctx: RequestCtx): void {
  addForwardingHeaders(ctx);
  ctx.route!.target.call(ctx);
}

export class Gateway {
  private table: RouteTable;
  /** Requests whose response has not finished yet (the engines report the end: it cannot leak). */
  inflight = 0;

  /** Rate-limit state: one table for the process, kept across reloads. */
  readonly limiter: GcraTable;
  /** Cluster mode (rateLimit.backend: redis); set at start, like the table size. */
  readonly remoteLimiter: RedisLimiter | null;
  /** Quota counts per consumer and period, kept across reloads. */
  readonly quotas: QuotaTable;
  private readonly shared: SharedTables;
  readonly observer: Observer;
  /** a table compiled by prepare(), waiting for commit() */
  private prepared: RouteTable | null = null;

  constructor(config: GatewayConfig, opts: GatewayOptions = {}) {
    const shared = opts.shared;
    this.limiter = new GcraTable(shared?.limiter ?? GcraTable.allocate(config.rateLimit.tableSize), shared?.seed ?? randomSeed());
    this.quotas = new QuotaTable(shared?.quotas ?? QuotaTable.allocate());
    this.remoteLimiter = config.rateLimit.backend === 'redis' ? new RedisLimiter(config.rateLimit.redis) : null;
    this.observer = opts.observer ?? Observer.none;
    this.shared = { limiter: this.limiter, quotas: this.quotas, remoteLimiter: this.remoteLimiter, transcoder: opts.transcoder ?? null, cancelFlags: shared?.cancelFlags ?? opts.cancelFlags ?? allocateCancelFlags(), grpcTargets: shared?.grpcTargets ?? opts.grpcTargets ?? allocateGrpcTargetState(), observer: this.observer };
    this.table = new RouteTable(config, this.shared, opts.generation ?? null);
  }

  get config(): GatewayConfig { return this.table.config; }
  get routeTable(): RouteTable { return this.table; }

  /** Resolves when the table's DNS targets have their first answers. */
  ready(): Promise<void> {
    return this.table.ready();
  }

  /**
   * Compiles `config` into a table (DNS resolved, the transcoding pool configured) without
   * serving it yet; throws when it cannot. `generation`: the pool already has this config
   * (front-end threads get it from the main thread, which owns the pool).
   */
  async prepare(config: GatewayConfig, generation?: number | null): Promise<void> {
    this.discard();
    const gen = generation !== undefined ? generation : (await this.shared.transcoder?.configure?.(config)) ?? null;
    const next = new RouteTable(config, this.shared, gen);
    this.prepared = next;
    try { await next.ready(); } catch (e) { this.discard(); throw e; }
  }

  /** Serves the prepared table; the old one closes its pools once its last request finished. */
  commit(): void {
    const next = this.prepared;
    if (!next) throw new Error('no prepared config to commit');
    this.prepared = null;
    const old = this.table;
    this.table = next;
    void old.retire();
  }

  /** Drops a prepared table that will not be served. */
  discard(): void {
    const p = this.prepared;
    this.prepared = null;
    if (p) void p.retire();
  }

  /** Swap in a new config (once its DNS targets are resolved). */
  async reload(config: GatewayConfig): Promise<void> {
    await this.prepare(config);
    this.commit();
  }

  /** Fails what is still running with `err` (answered to clients that have no response yet). */
  async destroy(err?: Error): Promise<void> {
    this.discard();
    await Promise.all([this.table.destroy(err), this.remoteLimiter?.close()]);
  }

  /** A request of `table` is over (its response finished, or the client left). */
  private leave(table: RouteTable): void {
    this.inflight--;
    table.leave();
  }

  private readonly finished = (ctx: RequestCtx): void => this.leave(ctx.table);

  readonly handle = (head: RequestHead, body: BodySource | null, sink: ResponseSink): void => {
    const table = this.table;
    const limits = table.config.limits;
    this.inflight++;
    table.enter();
    // Once, whichever way the request ends: through its context, or refused before it has one.
    let ctx: RequestCtx | null = null;
    let requestId = '-';
    const start = performance.now();
    sink.onFinished(() => {
      if (ctx) { ctx.finish(); return; }
      try { table.observer.refused(head, sink, start, requestId); } catch { /* counted best-effort; never blocks the accounting */ }
      this.leave(table);
    });
    const scanned = scanRequestHeaders(head.rawHeaders, limits, head.http10);
    if (scanned instanceof GatewayError) {
      sendError(sink, scanned, '-', null, 'framing'); // never trust what follows on this connection
      return;
    }
    requestId = scanned.requestId;
    let refusal: GatewayError | null = null;
    let close: boolean | 'framing' = true;
    let normal: ReturnType<typeof normalisePath> | null = null;
    if (!scanned.hostHeader && !head.http10) { refusal = new GatewayError('bad_request', 'an HTTP/1.1 request needs a Host header'); close = 'framing'; } // RFC 9112 3.2
    else if (!METHOD.test(head.method)) { refusal = new GatewayError('bad_request', 'malformed request line'); close = 'framing'; }
    else if (head.path.length + head.query.length + 1 > limits.maxUriBytes) refusal = new GatewayError('uri_too_long', `the request target exceeds ${limits.maxUriBytes} bytes`);
    else {
      normal = normalisePath(head.path, table.config.paths.mergeSlashes);
      const badQuery = head.query ? checkQuery(head.query) : undefined;
      if (!normal.ok || badQuery) refusal = new GatewayError('bad_request', normal.ok ? badQuery! : normal.reason);
    }
    if (refusal || !normal?.ok) {
      sendError(sink, refusal!, requestId, null, close);
      return;
    }
    const hasBody = body !== null && (scanned.contentLength > 0 || scanned.chunked);
    const clientIp = table.trustedProxies ? clientAddress(head, table.trustedProxies) : head.remoteAddress;
    const c = (ctx = new RequestCtx(table, head, sink, scanned, normal.path, normal.flags, clientIp, hasBody, body, this.finished));
    c.run(() => { table.observer.begin(c); this.route(c); });
  };

  /** Routing, the gateway-wide hooks, the route's checks, then its policies and target. */
  private route(ctx: RequestCtx): void {
    const table = ctx.table;
    const match = table.router.match(ctx.matchInput(ctx.method));
    if (match.kind === 'route') {
      ctx.route = match.route;
      ctx.params = match.params;
      ctx.wildcard = match.wildcard;
    }
    const routed = (c: RequestCtx) => {
      if (match.kind === 'method-not-allowed') { c.fail(new GatewayError('method_not_allowed', `method ${c.method} is not allowed on ${c.path}`), ['allow', match.allow.join(', ')]); return; }
      if (match.kind === 'not-found') { c.fail(new GatewayError('route_not_found', `no route for ${c.method} ${c.path}`)); return; }
      const route = match.route;
      const refused = c.pathFlags & ~route.allowInPath;
      if (refused) { c.fail(new GatewayError('bad_request', `the path contains ${PATH_FLAG_TEXT[refused & -refused]}, which this route does not accept`)); return; }
      const limits = table.config.limits;
      if (c.scanned.contentLength > limits.maxBodyBytes) { c.fail(new GatewayError('payload_too_large', `request body exceeds ${limits.maxBodyBytes} bytes`)); return; }
      // Identity headers come from the gateway only: client-sent copies never pass.
      removeHeaders(c.upstreamHeaders, table.identityStrip);
      if (route.onRequest.length === 0) toTarget(c);
      else runChain(c, route.onRequest, 0, toTarget);
    };
    if (table.gatewayChain.length === 0) routed(ctx);
    else runChain(ctx, table.gatewayChain, 0, routed);
  }
}
