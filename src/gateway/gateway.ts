// The gateway core: per request, check the head, route it, and hand it to the upstream.
// Holds the current RouteTable; a reload swaps it, and requests already running keep the
// table (and pools) they started with.
import { GatewayError, errorBody } from '../errors.js';
import type { GatewayConfig, HashOn } from '../config/types.js';
import type { BodySource, RequestHead, ResponseSink } from '../server/types.js';
import { scanRequestHeaders, findHeader, type ScannedRequest } from '../proxy/request-headers.js';
import { applyHeaderOps } from '../proxy/header-ops.js';
import { RequestBodyStream } from '../proxy/request-body.js';
import { ProxyCall, type CallPlan } from '../proxy/proxy-call.js';
import { checkQuery, normalisePath } from '../router/normalise-path.js';
import { cookieValue, withoutCookies, withoutQueryParams } from '../proxy/credentials.js';
import { RouteTable, type CompiledRoute } from './route-table.js';
import type { MatchResult } from '../router/router.js';

type RouteMatch = Extract<MatchResult<CompiledRoute>, { kind: 'route' }>;
import { GcraTable, randomSeed } from '../ratelimit/gcra-table.js';
import { QuotaTable } from '../ratelimit/quota-table.js';
import type { LimitOutcome } from '../ratelimit/route-limits.js';
import { RedisLimiter } from '../ratelimit/redis-limiter.js';
import type { Identity } from '../auth/identity.js';
import type { AuthResult } from '../auth/route-auth.js';
import { HeldBody } from '../proxy/held-body.js';
import type { TranscodeRoute } from '../transcode/transcode-route.js';
import type { TranscodeResult } from '../transcode/task.js';
import { StreamRelay } from '../transcode/stream-relay.js';
import { QueueFullError } from '../transcode/transcode-pool.js';
import { log } from '../observability/logger.js';
import { clientAddress } from '../auth/ip-filter.js';
import { isJson, type Violation } from '../auth/request-validation.js';

const METHOD = /^[A-Z]{1,20}$/;
const JSON_HEADERS = ['content-type', 'application/json'];

/** Answers `err` as JSON. `close`: close the connection after it (framing errors, unread bodies). */
export function sendError(sink: ResponseSink, err: GatewayError, requestId: string, extra?: string[] | null, close: boolean | 'framing' = false): void {
  const headers = [...JSON_HEADERS, 'x-request-id', requestId];
  if (extra) headers.push(...extra);
  sink.sendFull(err.status, headers, errorBody(err.code, err.message, requestId, err.details), close);
}

/**
 * One request on its way through the gateway: what its answers need (the sink, its id, the
 * headers every answer carries) and the table it started on. Every continuation of the
 * request (after a token check, a Redis decision, a body read, a pool call) runs through
 * `guard`, so a bug answers this one request 500 and is logged; nothing escapes into the
 * front end's native callbacks.
 */
class Pending {
  /** CORS, rate-limit and quota headers: added to every answer, errors included */
  extra: string[] | null = null;
  constructor(
    readonly table: RouteTable,
    readonly head: RequestHead,
    readonly sink: ResponseSink,
    readonly requestId: string,
    /** the request has a body: an error answer closes the connection (the body may be unread) */
    readonly hasBody: boolean,
  ) {}

  fail(err: GatewayError, more?: string[]): void {
    const extra = this.extra ? (more ? [...more, ...this.extra] : this.extra) : more;
    sendError(this.sink, err, this.requestId, extra, this.hasBody);
  }

  addHeaders(h: readonly string[]): void {
    if (h.length) this.extra = this.extra ? [...this.extra, ...h] : [...h];
  }

  /** Reads the body whole (at most limits.maxBufferedBodyBytes, else 413), then `then` runs guarded. */
  readWhole(body: BodySource, then: (whole: Buffer) => void): void {
    const max = this.table.config.limits.maxBufferedBodyBytes;
    collectBody(body, max, this.sink, this.guard((whole: BodyResult) => {
      if (whole === 'aborted') return;
      if (whole === 'too-large') { this.fail(new GatewayError('payload_too_large', `request body exceeds ${max} bytes`)); return; }
      then(whole);
    }));
  }

  /** Runs `fn` now; a throw becomes this request's 500 (when nothing answered yet) and a log line. */
  run(fn: () => void): void {
    try { fn(); } catch (e) { this.crashed(e); }
  }

  /** `fn` wrapped for later (callbacks, promise handlers). */
  guard<A extends unknown[]>(fn: (...a: A) => void): (...a: A) => void {
    return (...a: A) => { try { fn(...a); } catch (e) { this.crashed(e); } };
  }

  crashed(e: unknown): void {
    log.error({ err: e instanceof Error ? { message: e.message, stack: e.stack } : String(e), requestId: this.requestId, path: this.head.path }, 'request handling failed');
    if (!this.sink.responded && !this.sink.aborted) {
      try { sendError(this.sink, new GatewayError('internal_error', 'internal error', 'internal'), this.requestId, null, true); } catch { this.sink.destroy(); }
    }
  }
}

type BodyResult = Buffer | 'aborted' | 'too-large';

/** Reads a whole request body (copying the front end's chunks), up to `max` bytes, without quadratic copying. */
function collectBody(body: BodySource, max: number, sink: ResponseSink, done: (whole: BodyResult) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  const settle = (r: BodyResult) => { if (!settled) { settled = true; done(r); } };
  sink.onAborted(() => settle('aborted'));
  body.onData((chunk, last) => {
    if (settled) return;
    size += chunk.byteLength;
    if (size > max) { settle('too-large'); return; }
    if (chunk.byteLength) chunks.push(Buffer.from(chunk));
    if (last) settle(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
  });
}

/** The upstream request carries this whole body with its exact length (the client writes the framing). */
function setWholeBody(plan: CallPlan, whole: Buffer): void {
  plan.body = whole;
  plan.contentLength = whole.length;
}

function invalidRequest(violations: Violation[]): GatewayError {
  const err = new GatewayError('bad_request', `the request does not match the route's schema (${violations.length} problem${violations.length === 1 ? '' : 's'})`);
  err.details = violations;
  return err;
}

/** The consistent-hash key of a request: a header, a cookie, or the client address. */
function hashKeyOf(on: HashOn, head: RequestHead, clientIp: string): string | undefined {
  if (on === 'ip') return clientIp;
  if ('header' in on) return findHeader(head.rawHeaders, on.header.toLowerCase());
  return cookieValue(findHeader(head.rawHeaders, 'cookie'), on.cookie);
}

const PATH_FLAG_TEXT = ['', 'an encoded slash (%2F or %5C)', 'a backslash', '', 'a ";" path parameter'];

/** The state every front-end thread shares: SharedArrayBuffers, made once by the main thread. */
export interface SharedState { limiter: SharedArrayBuffer; quotas: SharedArrayBuffer; /** the limiter's hash seed, made at process start */ seed: number }

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
  /** a table compiled by prepare(), waiting for commit() */
  private prepared: RouteTable | null = null;

  /** `shared`: the limiter and quota buffers of another thread (front-end threads share them). */
  constructor(config: GatewayConfig, shared?: SharedState) {
    this.table = new RouteTable(config);
    this.limiter = new GcraTable(shared?.limiter ?? GcraTable.allocate(config.rateLimit.tableSize), shared?.seed ?? randomSeed());
    this.quotas = new QuotaTable(shared?.quotas ?? QuotaTable.allocate());
    this.remoteLimiter = config.rateLimit.backend === 'redis' ? new RedisLimiter(config.rateLimit.redis) : null;
  }

  get config(): GatewayConfig { return this.table.config; }
  get routeTable(): RouteTable { return this.table; }

  /** Resolves when the table's DNS targets have their first answers. */
  ready(): Promise<void> {
    return this.table.ready();
  }

  /** Compiles `config` into a table (DNS resolved) without serving it yet; throws when it cannot. */
  async prepare(config: GatewayConfig): Promise<void> {
    this.discard();
    const next = new RouteTable(config);
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

  readonly handle = (head: RequestHead, body: BodySource | null, sink: ResponseSink): void => {
    const table = this.table;
    const limits = table.config.limits;
    this.inflight++;
    table.enter();
    sink.onFinished(() => { this.inflight--; table.leave(); });
    const scanned = scanRequestHeaders(head.rawHeaders, limits, head.http10);
    if (scanned instanceof GatewayError) {
      sendError(sink, scanned, '-', null, 'framing'); // never trust what follows on this connection
      return;
    }
    const requestId = scanned.requestId;
    if (!scanned.hostHeader && !head.http10) {
      sendError(sink, new GatewayError('bad_request', 'an HTTP/1.1 request needs a Host header'), requestId, null, 'framing'); // RFC 9112 3.2
      return;
    }
    const hasBody = body !== null && (scanned.contentLength > 0 || scanned.chunked);
    const req = new Pending(table, head, sink, requestId, hasBody);
    const method = head.method;
    if (!METHOD.test(method)) { sendError(sink, new GatewayError('bad_request', 'malformed request line'), requestId, null, 'framing'); return; }
    if (head.path.length + head.query.length + 1 > limits.maxUriBytes) {
      sendError(sink, new GatewayError('uri_too_long', `the request target exceeds ${limits.maxUriBytes} bytes`), requestId, null, true);
      return;
    }
    const normal = normalisePath(head.path, table.config.paths.mergeSlashes);
    const badQuery = head.query ? checkQuery(head.query) : undefined;
    if (!normal.ok || badQuery) {
      sendError(sink, new GatewayError('bad_request', normal.ok ? badQuery! : normal.reason), requestId, null, true);
      return;
    }
    req.run(() => this.route(req, normal.path, normal.flags, body, scanned));
  };

  /** Routing, the route's own checks and authentication. */
  private route(req: Pending, path: string, pathFlags: number, body: BodySource | null, scanned: ScannedRequest): void {
    const { table, head, sink, requestId } = req;
    const limits = table.config.limits;
    const method = head.method;
    const clientIp = table.trustedProxies ? clientAddress(head, table.trustedProxies) : head.remoteAddress;
    if (table.ipFilter && !table.ipFilter.permits(clientIp)) { req.fail(new GatewayError('forbidden', 'client address is not allowed')); return; }

    let query: URLSearchParams | null = null;
    const input = {
      method,
      host: scanned.host,
      path,
      header: (name: string) => findHeader(head.rawHeaders, name),
      queryParam: (name: string) => (query ??= new URLSearchParams(head.query)).get(name) ?? undefined,
    };
    const match = table.router.match(input);
    // Origin is only read where CORS can use it (preflights, CORS routes), not on every request.
    const origin = method === 'OPTIONS' ? findHeader(head.rawHeaders, 'origin') : undefined;
    if (origin !== undefined) {
      const asked = findHeader(head.rawHeaders, 'access-control-request-method');
      // A CORS preflight is answered here for the route of the method it asks about.
      const target = asked === undefined ? null : match.kind === 'route' && match.route.cors ? match : table.router.match({ ...input, method: asked.toUpperCase() });
      if (asked !== undefined && target?.kind === 'route' && target.route.cors) {
        const allowed = target.route.cors.preflight(origin, asked, findHeader(head.rawHeaders, 'access-control-request-headers'));
        if (allowed) sink.start(204, [...allowed, 'x-request-id', requestId], -1, true);
        else req.fail(new GatewayError('forbidden', 'CORS preflight not allowed for this origin, method or headers'), ['vary', 'Origin']);
        return;
      }
    }
    if (match.kind !== 'route') {
      if (match.kind === 'method-not-allowed') req.fail(new GatewayError('method_not_allowed', `method ${method} is not allowed on ${path}`), ['allow', match.allow.join(', ')]);
      else req.fail(new GatewayError('route_not_found', `no route for ${method} ${path}`));
      return;
    }
    const route = match.route;
    const refused = pathFlags & ~route.allowInPath;
    if (refused) {
      req.fail(new GatewayError('bad_request', `the path contains ${PATH_FLAG_TEXT[refused & -refused]}, which this route does not accept`));
      return;
    }
    if (scanned.contentLength > limits.maxBodyBytes) { req.fail(new GatewayError('payload_too_large', `request body exceeds ${limits.maxBodyBytes} bytes`)); return; }

    const queryParams = () => (query ??= new URLSearchParams(head.query));
    if (route.ipFilter && !route.ipFilter.permits(clientIp)) { req.fail(new GatewayError('forbidden', 'client address is not allowed on this route')); return; }
    if (route.cors) req.addHeaders(route.cors.response(origin ?? findHeader(head.rawHeaders, 'origin')));
    const next = (b: BodySource | null, identity: Identity | null) => this.limit(req, match, path, b, scanned, clientIp, queryParams, identity);
    if (!route.auth) { next(body, null); return; }
    const verdict = route.auth.check(head, queryParams);
    if (verdict instanceof Promise) {
      // Verifying takes a moment: hold the body that arrives meanwhile.
      const held = req.hasBody ? new HeldBody(body!) : body;
      verdict.then(
        req.guard((v: AuthResult) => {
          if (sink.aborted) return;
          const identity = this.authorized(req, v);
          if (identity) next(held, identity);
        }),
        req.guard((e: unknown) => {
          log.error({ err: (e as Error).message, requestId }, 'authenticator threw');
          req.fail(new GatewayError('internal_error', 'authentication failed unexpectedly', 'internal'));
        }),
      );
      return;
    }
    const identity = this.authorized(req, verdict);
    if (identity) next(body, identity);
  }

  /** The identity when the route admits the request; otherwise answers 401/403 and returns null. */
  private authorized(req: Pending, verdict: AuthResult): Identity | null {
    if (verdict.kind === 'ok') return verdict.identity;
    if (verdict.kind === 'missing') req.fail(new GatewayError('unauthorized', 'credentials are missing'), ['www-authenticate', verdict.challenge]);
    else if (verdict.kind === 'invalid') req.fail(new GatewayError('unauthorized', `credentials are not valid: ${verdict.reason}`), ['www-authenticate', verdict.challenge]);
    else req.fail(new GatewayError('forbidden', `consumer "${verdict.consumer.id}" may not use this route`));
    return null;
  }

  /** After authentication: route rate limits (local, or shared through Redis), then the rest. */
  private limit(
    req: Pending, match: RouteMatch, path: string, body: BodySource | null,
    scanned: ScannedRequest, clientIp: string, queryParams: () => URLSearchParams, identity: Identity | null,
  ): void {
    const route = match.route;
    const next = (b: BodySource | null, o: LimitOutcome | null) => {
      if (o) {
        if (!o.allowed) { req.fail(new GatewayError('rate_limited', 'rate limit exceeded'), o.headers); return; }
        req.addHeaders(o.headers);
      }
      this.admitted(req, match, path, b, scanned, clientIp, queryParams, identity);
    };
    if (!route.limits) { next(body, null); return; }
    const outcome = route.limits.check(this.limiter, { head: req.head, ip: clientIp, params: match.params, query: queryParams, consumer: identity?.consumer.id }, this.remoteLimiter);
    if (outcome instanceof Promise) {
      // Redis decides: hold the body that arrives meanwhile.
      const held = req.hasBody ? new HeldBody(body!) : body;
      outcome.then(
        req.guard((o: LimitOutcome) => { if (!req.sink.aborted) next(held, o); }),
        (e: unknown) => req.crashed(e),
      );
      return;
    }
    next(body, outcome);
  }

  /** A transcoding route: match the HTTP binding here, run the whole call in the pool. */
  private transcode(req: Pending, route: CompiledRoute, t: TranscodeRoute, path: string, body: BodySource | null, headers: string[]): void {
    const { table, head, sink, requestId } = req;
    const m = t.match(head.method, path);
    if (m.kind === 'not-found') { req.fail(new GatewayError('route_not_found', `no gRPC method is bound to ${head.method} ${path}`)); return; }
    if (m.kind === 'method-not-allowed') { req.fail(new GatewayError('method_not_allowed', `method ${head.method} is not allowed on ${path}`), ['allow', m.allow.join(', ')]); return; }
    if (m.binding.clientStreaming) { req.fail(new GatewayError('not_implemented', 'client-streaming gRPC methods cannot be called through REST/JSON')); return; }
    const pool = table.transcodePool!;
    const metadata: Array<[string, string]> = [];
    for (let i = 0; i < headers.length; i += 2) if (t.metadataHeaders.has(headers[i]!)) metadata.push([headers[i]!, headers[i + 1]!]);
    const deadline = Date.now() + route.timeouts.totalMs;
    const call = (bytes: Buffer | null) => {
      let ab: ArrayBuffer | null = null;
      if (bytes) { ab = new ArrayBuffer(bytes.length); new Uint8Array(ab).set(bytes); } // own buffer: it is transferred
      const stream = m.binding.serverStreaming ? new StreamRelay(sink, requestId, req.extra) : null;
      if (stream) stream.sse = /text\/event-stream/i.test(findHeader(head.rawHeaders, 'accept') ?? '');
      // No AbortSignal to Piscina: aborting a running task terminates its worker, and with it
      // every other call that worker runs. A stream is cancelled through its port, a unary
      // call through a shared cancel flag.
      const cancellation = stream ? null : pool.cancellation();
      sink.onAborted(() => { stream?.cancel(); cancellation?.cancel(); });
      pool.run({
        upstream: t.upstream, binding: m.task, vars: m.vars, query: head.query, body: ab, metadata, deadline, emitDefaults: t.emitDefaults,
        cancelSeq: cancellation?.seq,
        stream: stream ? { port: stream.workerPort, sse: stream.sse } : undefined,
      }).then(
        req.guard((r: TranscodeResult) => {
          if (r.status === 0) return; // a stream answered (or was cancelled) on its port
          stream?.close();
          const h = [...r.headers, 'x-request-id', requestId];
          if (req.extra) h.push(...req.extra);
          sink.sendFull(r.status, h, new Uint8Array(r.body));
        }),
        req.guard((e: Error) => {
          stream?.close();
          if (sink.responded || sink.aborted) return;
          if (e instanceof QueueFullError) req.fail(new GatewayError('service_unavailable', 'transcoding is saturated; try again', 'internal', true), ['retry-after', '1']);
          else { log.error({ err: e.message, requestId }, 'transcoding failed'); req.fail(new GatewayError('internal_error', 'transcoding failed', 'internal')); }
        }),
      );
    };
    if (req.hasBody) {
      req.readWhole(body!, call);
      return;
    }
    call(null);
  }

  /** Past the route limits: plan limits and quota, validation, then the upstream call. */
  private admitted(
    req: Pending, match: RouteMatch, path: string, body: BodySource | null,
    scanned: ScannedRequest, clientIp: string, queryParams: () => URLSearchParams, identity: Identity | null,
  ): void {
    const { table, head, sink, requestId } = req;
    const route = match.route;
    const limits = table.config.limits;
    const consumer = identity?.consumer ?? null;
    if (consumer?.plan !== undefined) {
      const plan = table.plans.check(this.limiter, this.quotas, consumer, { head, ip: clientIp, params: match.params, query: queryParams, consumer: consumer.id });
      if (!plan.allowed) { req.fail(plan.error, plan.headers); return; }
      req.addHeaders(plan.headers);
    }
    const headers = scanned.forward;
    // Identity headers come from the gateway only: client-sent copies never pass.
    const ids = table.identity;
    applyHeaderOps(headers, table.identityStrip);
    if (consumer) {
      headers.push(ids.consumer, consumer.id);
      if (consumer.groups.length) headers.push(ids.groups, consumer.groups.join(','));
      if (consumer.tenant) headers.push(ids.tenant, consumer.tenant);
      if (identity!.headers.length) headers.push(...identity!.headers);
    }
    let upstreamQuery = head.query;
    const auth = route.auth;
    if (auth?.hideCookies) hideCookies(headers, auth.hideCookies);
    if (auth?.hideQuery && upstreamQuery) upstreamQuery = withoutQueryParams(upstreamQuery, auth.hideQuery);
    if (route.requestOps) applyHeaderOps(headers, route.requestOps);
    headers.push(
      'x-request-id', requestId,
      'x-forwarded-for', scanned.xForwardedFor ? `${scanned.xForwardedFor}, ${head.remoteAddress}` : head.remoteAddress,
      'x-forwarded-proto', head.scheme,
    );
    if (scanned.hostHeader) headers.push('x-forwarded-host', scanned.hostHeader);
    if (route.transcode) {
      this.transcode(req, route, route.transcode, path, body, headers);
      return;
    }

    let upstreamPath = route.buildPath ? route.buildPath(path, match.params, match.wildcard) : path;
    if (upstreamQuery) upstreamPath += '?' + upstreamQuery;

    const hasBody = req.hasBody;
    const hashOn = route.upstream!.config.balance === 'consistent-hash' ? route.upstream!.config.hashOn ?? 'ip' : null;
    const plan: CallPlan = {
      route,
      method: head.method,
      path: upstreamPath,
      headers,
      preservedHost: route.preserveHost && scanned.hostHeader ? scanned.hostHeader : null,
      body: null,
      // the client writes the framing: a length, chunked for a stream, nothing without a body
      contentLength: scanned.chunked ? -1 : scanned.contentLength,
      hashKey: hashOn === null ? undefined : hashKeyOf(hashOn, head, clientIp),
      requestId,
      responseHeaders: req.extra,
    };
    const start = () => new ProxyCall(sink, plan, (s, err, id, extra) => sendError(s, err, id, extra, hasBody)).start();
    const readWhole = (then: (whole: Buffer) => void) => req.readWhole(body!, then);
    const validator = route.validator;
    if (validator) {
      const bad = validator.checkHead(queryParams(), head.rawHeaders);
      if (bad.length) { req.fail(invalidRequest(bad)); return; }
      if (validator.needsBody) {
        if (!hasBody) { req.fail(invalidRequest([{ in: 'body', pointer: '/', message: 'a JSON body is required' }])); return; }
        if (!isJson(findHeader(head.rawHeaders, 'content-type'))) { req.fail(new GatewayError('unsupported_media_type', 'the body must be JSON (application/json)')); return; }
        readWhole((whole) => {
          let value: unknown;
          try { value = JSON.parse(whole.toString('utf8')); } catch (e) {
            req.fail(invalidRequest([{ in: 'body', pointer: '/', message: `malformed JSON: ${(e as Error).message}` }]));
            return;
          }
          const v = validator.checkBody(value);
          if (v.length) { req.fail(invalidRequest(v)); return; }
          setWholeBody(plan, whole);
          start();
        });
        return;
      }
    }
    if (hasBody && scanned.contentLength > 0 && scanned.contentLength <= Math.min(route.retry.bufferBodyBytes, limits.maxBufferedBodyBytes)) {
      // Small enough to read whole first: a retry can then send it again.
      readWhole((whole) => { setWholeBody(plan, whole); start(); });
      return;
    }
    if (hasBody) plan.body = new RequestBodyStream(body!, limits.maxBodyBytes);
    start();
  }
}

/** Removes the named cookies from the Cookie headers of a flat list (the header goes when empty). */
function hideCookies(headers: string[], names: ReadonlySet<string>): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (headers[i] !== 'cookie') continue;
    const rest = withoutCookies(headers[i + 1]!, names);
    if (rest) headers[i + 1] = rest;
    else headers.splice(i, 2);
  }
}
