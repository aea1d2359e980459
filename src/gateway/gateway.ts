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
import { hasDotSegment, removeDotSegments } from '../router/path-pattern.js';
import { RouteTable, type CompiledRoute } from './route-table.js';
import type { MatchResult } from '../router/router.js';

type RouteMatch = Extract<MatchResult<CompiledRoute>, { kind: 'route' }>;
import { GcraTable } from '../ratelimit/gcra-table.js';
import { QuotaTable } from '../ratelimit/quota-table.js';
import type { LimitOutcome } from '../ratelimit/route-limits.js';
import { RedisLimiter } from '../ratelimit/redis-limiter.js';
import type { Identity } from '../auth/identity.js';
import type { AuthResult } from '../auth/route-auth.js';
import { HeldBody } from '../proxy/held-body.js';
import type { TranscodeRoute } from '../transcode/transcode-route.js';
import { StreamRelay } from '../transcode/stream-relay.js';
import { QueueFullError } from '../transcode/transcode-pool.js';
import { log } from '../observability/logger.js';
import { clientAddress } from '../auth/ip-filter.js';
import { isJson, type Violation } from '../auth/request-validation.js';

const METHOD = /^[A-Z]{1,20}$/;
const JSON_HEADERS = ['content-type', 'application/json'];

export function sendError(sink: ResponseSink, err: GatewayError, requestId: string, extra?: string[]): void {
  const headers = [...JSON_HEADERS, 'x-request-id', requestId];
  if (extra) headers.push(...extra);
  sink.sendFull(err.status, headers, errorBody(err.code, err.message, requestId, err.details));
}

/** Reads a whole request body (copying the front end's chunks), up to `max` bytes. */
function collectBody(body: BodySource, max: number, sink: ResponseSink, done: (whole: Buffer | 'aborted' | 'too-large') => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  const settle = (r: Buffer | 'aborted' | 'too-large') => { if (!settled) { settled = true; done(r); } };
  sink.onAborted(() => settle('aborted'));
  body.onData((chunk, last) => {
    if (settled) return;
    size += chunk.byteLength;
    if (size > max) { settle('too-large'); return; }
    if (chunk.byteLength) chunks.push(Buffer.from(chunk));
    if (last) settle(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
  });
}

/** The upstream request carries this whole body with its exact length (chunked framing dropped). */
function setWholeBody(plan: CallPlan, whole: Buffer): void {
  plan.body = whole;
  plan.contentLength = whole.length;
  const h = plan.headers;
  for (let i = h.length - 2; i >= 0; i -= 2) if (h[i] === 'content-length') h.splice(i, 2);
  h.push('content-length', String(whole.length));
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
  const cookies = findHeader(head.rawHeaders, 'cookie');
  if (!cookies) return undefined;
  for (const part of cookies.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === on.cookie) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The state every front-end thread shares: SharedArrayBuffers, made once by the main thread. */
export interface SharedState { limiter: SharedArrayBuffer; quotas: SharedArrayBuffer }

export class Gateway {
  private table: RouteTable;
  /** Requests whose response has not finished yet. */
  inflight = 0;
  private readonly release = () => { this.inflight--; };

  /** Rate-limit state: one table for the process, kept across reloads. */
  readonly limiter: GcraTable;
  /** Cluster mode (rateLimit.backend: redis); set at start, like the table size. */
  readonly remoteLimiter: RedisLimiter | null;
  /** Quota counts per consumer and period, kept across reloads. */
  readonly quotas: QuotaTable;

  /** `shared`: the limiter and quota buffers of another thread (front-end threads share them). */
  constructor(config: GatewayConfig, shared?: SharedState) {
    this.table = new RouteTable(config);
    this.limiter = new GcraTable(shared?.limiter ?? GcraTable.allocate(config.rateLimit.tableSize), config.rateLimit.onFull);
    this.quotas = new QuotaTable(shared?.quotas ?? QuotaTable.allocate());
    this.remoteLimiter = config.rateLimit.backend === 'redis' ? new RedisLimiter(config.rateLimit.redis) : null;
  }

  get config(): GatewayConfig { return this.table.config; }
  get routeTable(): RouteTable { return this.table; }

  /** Resolves when the table's DNS targets have their first answers. */
  ready(): Promise<void> {
    return this.table.ready();
  }

  /** Swap in a new config (once its DNS targets are resolved). The old table's pools close once their requests finish. */
  async reload(config: GatewayConfig): Promise<void> {
    const next = new RouteTable(config);
    await next.ready();
    const old = this.table;
    this.table = next;
    void old.retire();
  }

  /** Fails what is still running with `err` (answered to clients that have no response yet). */
  async destroy(err?: Error): Promise<void> {
    await Promise.all([this.table.destroy(err), this.remoteLimiter?.close()]);
  }

  readonly handle = (head: RequestHead, body: BodySource | null, sink: ResponseSink): void => {
    const table = this.table;
    const limits = table.config.limits;
    this.inflight++;
    const scanned = scanRequestHeaders(head.rawHeaders, limits);
    if (scanned instanceof GatewayError) {
      sendError(sink, scanned, findHeader(head.rawHeaders, 'x-request-id') ?? '-');
      this.inflight--;
      return;
    }
    const requestId = scanned.requestId;
    const method = head.method;
    let path = head.path;
    if (!METHOD.test(method) || path.charCodeAt(0) !== 47 /* / */) {
      sendError(sink, new GatewayError('bad_request', 'malformed request line'), requestId);
      this.inflight--;
      return;
    }
    if (hasDotSegment(path)) path = removeDotSegments(path);
    const clientIp = table.trustedProxies ? clientAddress(head, table.trustedProxies) : head.remoteAddress;
    if (table.ipFilter && !table.ipFilter.permits(clientIp)) {
      sendError(sink, new GatewayError('forbidden', 'client address is not allowed'), requestId);
      this.inflight--;
      return;
    }

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
        else sendError(sink, new GatewayError('forbidden', 'CORS preflight not allowed for this origin, method or headers'), requestId, ['vary', 'Origin']);
        this.inflight--;
        return;
      }
    }
    if (match.kind !== 'route') {
      if (match.kind === 'method-not-allowed') {
        sendError(sink, new GatewayError('method_not_allowed', `method ${method} is not allowed on ${path}`), requestId, ['allow', match.allow.join(', ')]);
      } else {
        sendError(sink, new GatewayError('route_not_found', `no route for ${method} ${path}`), requestId);
      }
      this.inflight--;
      return;
    }
    if (scanned.contentLength > limits.maxBodyBytes) {
      sendError(sink, new GatewayError('payload_too_large', `request body exceeds ${limits.maxBodyBytes} bytes`), requestId, ['connection', 'close']);
      this.inflight--;
      return;
    }

    const route = match.route;
    const queryParams = () => (query ??= new URLSearchParams(head.query));
    if (route.ipFilter && !route.ipFilter.permits(clientIp)) {
      sendError(sink, new GatewayError('forbidden', 'client address is not allowed on this route'), requestId);
      this.inflight--;
      return;
    }
    const corsHeaders = route.cors ? route.cors.response(origin ?? findHeader(head.rawHeaders, 'origin')) : null;
    if (route.auth) {
      const verdict = route.auth.check(head, queryParams);
      if (verdict instanceof Promise) {
        // Verifying takes a moment: hold the body that arrives meanwhile.
        const held = body !== null && (scanned.contentLength > 0 || scanned.chunked) ? new HeldBody(body) : body;
        verdict.then(
          (v) => {
            if (sink.aborted) { this.inflight--; return; }
            const identity = this.authorized(v, sink, requestId, corsHeaders);
            if (identity) this.forward(table, match, path, head, held, sink, scanned, clientIp, queryParams, corsHeaders, identity);
          },
          (e: unknown) => {
            sendError(sink, new GatewayError('internal_error', 'authentication failed unexpectedly'), requestId, corsHeaders ?? undefined);
            this.inflight--;
            log.error({ err: (e as Error).message, requestId }, 'authenticator threw');
          },
        );
        return;
      }
      const identity = this.authorized(verdict, sink, requestId, corsHeaders);
      if (identity) this.forward(table, match, path, head, body, sink, scanned, clientIp, queryParams, corsHeaders, identity);
      return;
    }
    this.forward(table, match, path, head, body, sink, scanned, clientIp, queryParams, corsHeaders, null);
  };

  /** The identity when the route admits the request; otherwise answers 401/403 and returns null. */
  private authorized(verdict: AuthResult, sink: ResponseSink, requestId: string, corsHeaders: string[] | null): Identity | null {
    if (verdict.kind === 'ok') return verdict.identity;
    const extra = corsHeaders ? [...corsHeaders] : [];
    if (verdict.kind === 'missing') {
      sendError(sink, new GatewayError('unauthorized', 'credentials are missing'), requestId, [...extra, 'www-authenticate', verdict.challenge]);
    } else if (verdict.kind === 'invalid') {
      sendError(sink, new GatewayError('unauthorized', `credentials are not valid: ${verdict.reason}`), requestId, [...extra, 'www-authenticate', verdict.challenge]);
    } else {
      sendError(sink, new GatewayError('forbidden', `consumer "${verdict.consumer.id}" may not use this route`), requestId, extra);
    }
    this.inflight--;
    return null;
  }

  /** After authentication: route rate limits (local, or shared through Redis), then the rest. */
  private forward(
    table: RouteTable, match: RouteMatch, path: string, head: RequestHead, body: BodySource | null, sink: ResponseSink,
    scanned: ScannedRequest, clientIp: string, queryParams: () => URLSearchParams, corsHeaders: string[] | null, identity: Identity | null,
  ): void {
    const route = match.route;
    if (!route.limits) {
      this.admitted(table, match, path, head, body, sink, scanned, clientIp, queryParams, corsHeaders, identity, null);
      return;
    }
    const outcome = route.limits.check(this.limiter, { head, ip: clientIp, params: match.params, query: queryParams, consumer: identity?.consumer.id }, this.remoteLimiter);
    if (outcome instanceof Promise) {
      // Redis decides: hold the body that arrives meanwhile.
      const held = body !== null && (scanned.contentLength > 0 || scanned.chunked) ? new HeldBody(body) : body;
      void outcome.then((o) => {
        if (sink.aborted) { this.inflight--; return; }
        if (this.limited(o, sink, scanned.requestId, corsHeaders)) return;
        this.admitted(table, match, path, head, held, sink, scanned, clientIp, queryParams, corsHeaders, identity, o.headers);
      });
      return;
    }
    if (this.limited(outcome, sink, scanned.requestId, corsHeaders)) return;
    this.admitted(table, match, path, head, body, sink, scanned, clientIp, queryParams, corsHeaders, identity, outcome.headers);
  }

  /** A transcoding route: match the HTTP binding here, run the whole call in the pool. */
  private transcode(
    route: CompiledRoute, t: TranscodeRoute, table: RouteTable, head: RequestHead, path: string, body: BodySource | null,
    sink: ResponseSink, scanned: ScannedRequest, headers: string[], extra: string[] | null,
  ): void {
    const requestId = scanned.requestId;
    const fail = (err: GatewayError, more?: string[]) => {
      sendError(sink, err, requestId, extra ? [...(more ?? []), ...extra] : more);
      this.inflight--;
    };
    const m = t.match(head.method, path);
    if (m.kind === 'not-found') { fail(new GatewayError('route_not_found', `no gRPC method is bound to ${head.method} ${path}`)); return; }
    if (m.kind === 'method-not-allowed') { fail(new GatewayError('method_not_allowed', `method ${head.method} is not allowed on ${path}`), ['allow', m.allow.join(', ')]); return; }
    if (m.binding.clientStreaming) { fail(new GatewayError('not_implemented', 'client-streaming gRPC methods cannot be called through REST/JSON')); return; }
    const pool = table.transcodePool!;
    const metadata: Array<[string, string]> = [];
    for (let i = 0; i < headers.length; i += 2) if (t.metadataHeaders.has(headers[i]!)) metadata.push([headers[i]!, headers[i + 1]!]);
    const limits = table.config.limits;
    const deadline = Date.now() + route.timeouts.totalMs;
    const call = (bytes: Buffer | null) => {
      let ab: ArrayBuffer | null = null;
      if (bytes) { ab = new ArrayBuffer(bytes.length); new Uint8Array(ab).set(bytes); } // own buffer: it is transferred
      let finished = false;
      const finish = () => { if (!finished) { finished = true; this.inflight--; } };
      const stream = m.binding.serverStreaming ? new StreamRelay(sink, requestId, extra, finish) : null;
      if (stream) stream.sse = /text\/event-stream/i.test(findHeader(head.rawHeaders, 'accept') ?? '');
      // No AbortSignal to Piscina: aborting a running task terminates its worker, and with it
      // every other call that worker runs. A stream is cancelled through its port, a unary
      // call through a shared cancel flag.
      const cancellation = stream ? null : pool.cancellation();
      sink.onAborted(() => { stream?.cancel(); cancellation?.cancel(); finish(); });
      pool.run({
        upstream: t.upstream, binding: m.task, vars: m.vars, query: head.query, body: ab, metadata, deadline, emitDefaults: t.emitDefaults,
        cancelSeq: cancellation?.seq,
        stream: stream ? { port: stream.workerPort, sse: stream.sse } : undefined,
      }).then(
        (r) => {
          if (r.status === 0) return; // a stream answered (or was cancelled) on its port
          stream?.close();
          const h = [...r.headers, 'x-request-id', requestId];
          if (extra) h.push(...extra);
          sink.sendFull(r.status, h, new Uint8Array(r.body));
          finish();
        },
        (e: Error) => {
          stream?.close();
          if (finished) return;
          finished = true;
          if (e instanceof QueueFullError) fail(new GatewayError('service_unavailable', 'transcoding is saturated; try again', 'internal', true), ['retry-after', '1']);
          else { log.error({ err: e.message, requestId }, 'transcoding failed'); fail(new GatewayError('internal_error', 'transcoding failed')); }
        },
      );
    };
    if (body !== null && (scanned.contentLength > 0 || scanned.chunked)) {
      collectBody(body, limits.maxBodyBytes, sink, (whole) => {
        if (whole === 'aborted') { this.inflight--; return; }
        if (whole === 'too-large') { fail(new GatewayError('payload_too_large', `request body exceeds ${limits.maxBodyBytes} bytes`)); return; }
        call(whole);
      });
      return;
    }
    call(null);
  }

  /** Answers 429 when a limit refused the request. */
  private limited(outcome: LimitOutcome, sink: ResponseSink, requestId: string, corsHeaders: string[] | null): boolean {
    if (outcome.allowed) return false;
    sendError(sink, new GatewayError('rate_limited', 'rate limit exceeded'), requestId, corsHeaders ? [...outcome.headers, ...corsHeaders] : outcome.headers);
    this.inflight--;
    return true;
  }

  /** Past the route limits: plan limits and quota, validation, then the upstream call. */
  private admitted(
    table: RouteTable, match: RouteMatch, path: string, head: RequestHead, body: BodySource | null, sink: ResponseSink,
    scanned: ScannedRequest, clientIp: string, queryParams: () => URLSearchParams, corsHeaders: string[] | null, identity: Identity | null,
    limitHeaders: string[] | null,
  ): void {
    const route = match.route;
    const limits = table.config.limits;
    const requestId = scanned.requestId;
    const consumer = identity?.consumer ?? null;
    let extraResponseHeaders = limitHeaders && limitHeaders.length ? limitHeaders : null;
    if (consumer?.plan !== undefined) {
      const plan = table.plans.check(this.limiter, this.quotas, consumer, { head, ip: clientIp, params: match.params, query: queryParams, consumer: consumer.id });
      if (!plan.allowed) {
        sendError(sink, plan.error, requestId, corsHeaders ? [...plan.headers, ...corsHeaders] : plan.headers);
        this.inflight--;
        return;
      }
      if (plan.headers.length) extraResponseHeaders = extraResponseHeaders ? [...extraResponseHeaders, ...plan.headers] : plan.headers;
    }
    if (corsHeaders) extraResponseHeaders = extraResponseHeaders ? [...extraResponseHeaders, ...corsHeaders] : corsHeaders;
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
    if (route.requestOps) applyHeaderOps(headers, route.requestOps);
    headers.push(
      'x-request-id', requestId,
      'x-forwarded-for', scanned.xForwardedFor ? `${scanned.xForwardedFor}, ${head.remoteAddress}` : head.remoteAddress,
      'x-forwarded-proto', head.scheme,
    );
    if (scanned.hostHeader) headers.push('x-forwarded-host', scanned.hostHeader);
    if (route.transcode) {
      this.transcode(route, route.transcode, table, head, path, body, sink, scanned, headers, extraResponseHeaders);
      return;
    }

    let upstreamPath = route.buildPath ? route.buildPath(path, match.params, match.wildcard) : path;
    if (head.query) upstreamPath += '?' + head.query;

    const hasBody = body !== null && (scanned.contentLength > 0 || scanned.chunked);
    const hashOn = route.upstream!.config.balance === 'consistent-hash' ? route.upstream!.config.hashOn ?? 'ip' : null;
    const plan: CallPlan = {
      route,
      method: head.method,
      path: upstreamPath,
      headers,
      preservedHost: route.preserveHost && scanned.hostHeader ? scanned.hostHeader : null,
      body: null,
      contentLength: scanned.chunked ? -1 : scanned.contentLength,
      hashKey: hashOn === null ? undefined : hashKeyOf(hashOn, head, clientIp),
      requestId,
      responseHeaders: extraResponseHeaders,
    };
    const start = () => new ProxyCall(sink, plan, sendError, this.release).start();
    const reject = (err: GatewayError) => { sendError(sink, err, requestId, corsHeaders ?? undefined); this.inflight--; };
    const validator = route.validator;
    if (validator) {
      const bad = validator.checkHead(queryParams(), head.rawHeaders);
      if (bad.length) { reject(invalidRequest(bad)); return; }
      if (validator.needsBody) {
        if (!hasBody) { reject(invalidRequest([{ in: 'body', pointer: '/', message: 'a JSON body is required' }])); return; }
        if (!isJson(findHeader(head.rawHeaders, 'content-type'))) { reject(new GatewayError('unsupported_media_type', 'the body must be JSON (application/json)')); return; }
        collectBody(body, limits.maxBodyBytes, sink, (whole) => {
          if (whole === 'aborted') { this.inflight--; return; }
          if (whole === 'too-large') { reject(new GatewayError('payload_too_large', `request body exceeds ${limits.maxBodyBytes} bytes`)); return; }
          let value: unknown;
          try { value = JSON.parse(whole.toString('utf8')); } catch (e) {
            reject(invalidRequest([{ in: 'body', pointer: '/', message: `malformed JSON: ${(e as Error).message}` }]));
            return;
          }
          const v = validator.checkBody(value);
          if (v.length) { reject(invalidRequest(v)); return; }
          setWholeBody(plan, whole);
          start();
        });
        return;
      }
    }
    if (hasBody && scanned.contentLength > 0 && scanned.contentLength <= route.retry.bufferBodyBytes) {
      // Small enough to read whole first: a retry can then send it again.
      collectBody(body, limits.maxBodyBytes, sink, (whole) => {
        if (whole === 'aborted') { this.inflight--; return; }
        if (whole === 'too-large') { reject(new GatewayError('payload_too_large', `request body exceeds ${limits.maxBodyBytes} bytes`)); return; }
        setWholeBody(plan, whole);
        start();
      });
      return;
    }
    if (hasBody) plan.body = new RequestBodyStream(body, limits.maxBodyBytes);
    start();
  }
}
