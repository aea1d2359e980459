// One proxied request: the upstream client's handler across one or more attempts. It picks
// a target (balancer, breaker, ejections), streams the upstream response to the client
// sink with backpressure, enforces the total / first-byte / connect timeouts, retries what
// is safe to retry within the route's budget, feeds outlier detection and the breaker, and
// turns failures into the right status.
import { GatewayError } from '../errors.js';
import type { RetryOn } from '../config/types.js';
import type { UpstreamHandler } from '../upstream/http1-client.js';
import type { Target, Upstream } from '../upstream/upstream.js';
import type { ResponseSink } from '../server/types.js';
import type { RequestBodyStream } from './request-body.js';
import { connectionTokens, isHopByHop, removeHeaders } from './request-headers.js';
import type { HttpTargetSettings } from './http-target.js';
import type { RequestCtx } from '../pipeline/request-ctx.js';
import type { UpstreamHead } from '../pipeline/policy.js';
import { log } from '../observability/logger.js';

/** What a ProxyCall reads and writes of its request: a RequestCtx, or an aggregate backend's call (src/aggregate/http-backend.ts). */
export type CallCtx = Pick<RequestCtx, 'sink' | 'requestId' | 'upstream' | 'trace' | 'responseHeaders' | 'source' | 'fail' | 'table'>;

export interface CallPlan {
  target: HttpTargetSettings;
  method: string;
  path: string;
  /** upstream request headers without Host (added per attempt) */
  headers: string[];
  /** the client's Host header when the route preserves it */
  preservedHost: string | null;
  /** streamed (never replayed), or read whole (replayable) */
  body: RequestBodyStream | Buffer | null;
  contentLength: number;
  hashKey: string | undefined;
  /** the request: its sink, id, and the headers every answer carries */
  ctx: CallCtx;
  /** the route's onResponse hooks, run on the upstream's status and headers before they are sent */
  onResponse: ((res: UpstreamHead) => void) | null;
}

import { IDEMPOTENT } from '../upstream/http1-client.js';

type FailureKind = 'connect-failure' | 'reset' | 'timeout' | 'other';

/** Which `retry.on` kind an upstream failure is (by its stable code). */
function failureKind(err: GatewayError): FailureKind {
  switch (err.code) {
    case 'upstream_unavailable': case 'upstream_connect_timeout':
      return 'connect-failure';
    case 'upstream_reset':
      return 'reset';
    case 'upstream_timeout':
      return 'timeout';
    default:
      return 'other';
  }
}

export class ProxyCall implements UpstreamHandler {
  private abortUpstream: ((err: Error) => void) | null = null;
  private pendingAbort: Error | null = null;
  private resumeUpstream: (() => void) | null = null;
  private totalTimer: NodeJS.Timeout | null = null;
  private attemptTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private responded = false;
  private finished = false;
  /** the attempt now running was given up on by us (its onError is not news) */
  private discarding = false;
  private target: Target | null = null;
  /** this call holds one of the breaker's half-open probe slots */
  private probing = false;
  private retriesLeft: number;
  private retriesDone = 0;
  private readonly upstream: Upstream;
  private readonly headless: boolean;
  private readonly onDrain = () => this.resumeUpstream?.();

  private readonly sink: ResponseSink;

  constructor(private readonly plan: CallPlan) {
    const route = plan.target;
    const sink = (this.sink = plan.ctx.sink);
    this.upstream = route.upstream!;
    this.headless = plan.method === 'HEAD';
    this.retriesLeft = route.retry.attempts;
    this.totalTimer = setTimeout(this.guard(() => {
      this.totalTimer = null;
      this.fail(new GatewayError('upstream_timeout', `upstream did not answer within ${route.timeouts.totalMs} ms`));
    }), route.timeouts.totalMs);
    sink.onAborted(this.guard(() => this.fail(new GatewayError('client_closed', 'client closed the connection'))));
  }

  /** A timer or abort callback: a throw ends this call with a 500 (logged), never the process. */
  private guard(fn: () => void): () => void {
    return () => {
      try { fn(); } catch (e) {
        log.error({ err: (e as Error).message, stack: (e as Error).stack, requestId: this.plan.ctx.requestId }, 'proxy call failed');
        this.retriesLeft = 0;
        if (this.retryTimer) { clearTimeout(this.retryTimer); this.retryTimer = null; }
        if (!this.finished) this.finishWithError(new GatewayError('internal_error', 'internal error'));
      }
    };
  }

  start(): void {
    this.plan.target.retryBudget.deposit();
    this.attempt(null);
  }

  private attempt(avoid: Target | null): void {
    if (this.finished) return;
    const now = Date.now();
    const breaker = this.upstream.breaker;
    if (breaker) {
      this.releaseProbe();
      const verdict = breaker.allow(now);
      if (!verdict) {
        this.finishWithError(new GatewayError('circuit_open', `upstream "${this.upstream.name}" is failing; circuit open`), ['retry-after', String(breaker.retryAfterSec(now))]);
        return;
      }
      this.probing = verdict === 'probe';
    }
    const target = this.upstream.pick({ hashKey: this.plan.hashKey, avoid, now });
    if (!target) {
      this.finishWithError(new GatewayError('no_healthy_target', `no healthy target in upstream "${this.upstream.name}"`));
      return;
    }
    this.target = target;
    target.inflight++;
    this.noteAttempt(target);
    this.abortUpstream = null;
    this.pendingAbort = null;
    const { timeouts } = this.plan.target;
    if (timeouts.connectMs !== undefined || timeouts.firstByteMs !== undefined) {
      const connect = timeouts.connectMs !== undefined;
      this.attemptTimer = setTimeout(this.guard(() => {
        this.attemptTimer = null;
        this.abortAttempt(connect
          ? new GatewayError('upstream_connect_timeout', `upstream connection was not established within ${timeouts.connectMs} ms`)
          : new GatewayError('upstream_timeout', `upstream sent no response within ${timeouts.firstByteMs} ms`));
      }), connect ? timeouts.connectMs! : timeouts.firstByteMs!);
    }
    const p = this.plan;
    target.pool.dispatch({ path: p.path, method: p.method, host: p.preservedHost ?? target.authority, headers: p.headers, body: p.body, contentLength: p.contentLength }, this);
  }

  /** For metrics, the access log and the attempt's span: which target, when, which retry; the traceparent it carries. */
  private noteAttempt(target: Target): void {
    const ctx = this.plan.ctx;
    const now = performance.now();
    const up = ctx.upstream;
    if (up) { up.target = target.authority; up.sentAt = now; up.headersAt = 0; up.retries = this.retriesDone; }
    else ctx.upstream = { name: this.upstream.name, target: target.authority, sentAt: now, headersAt: 0, retries: this.retriesDone };
    const trace = ctx.trace;
    // An unsampled trace sends the same traceparent on every attempt: nothing to redo.
    if (trace && trace.sampled && trace.headerAt >= 0) {
      const colon = target.authority.lastIndexOf(':');
      const host = colon > 0 ? target.authority.slice(0, colon) : target.authority;
      const port = colon > 0 ? Number(target.authority.slice(colon + 1)) : 80;
      this.plan.headers[trace.headerAt] = trace.startAttempt(this.plan.method, host.replace(/^\[|\]$/g, ''), port, this.upstream.name);
    }
  }

  /** Ends the running attempt with `err` (its onError decides about retrying). */
  private abortAttempt(err: Error): void {
    if (this.abortUpstream) this.abortUpstream(err);
    else this.pendingAbort = err;
  }

  /** Gives up on the whole call. */
  private fail(err: GatewayError): void {
    if (this.finished) return;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      this.finishWithError(err);
      return;
    }
    this.retriesLeft = 0;
    this.abortAttempt(err);
  }

  onConnect(abort: (err: Error) => void): void {
    this.abortUpstream = abort;
    if (this.pendingAbort) abort(this.pendingAbort);
  }

  onConnected(): void {
    const { timeouts } = this.plan.target;
    if (timeouts.connectMs === undefined || this.attemptTimer === null) return;
    clearTimeout(this.attemptTimer);
    this.attemptTimer = null;
    if (timeouts.firstByteMs !== undefined) {
      this.attemptTimer = setTimeout(this.guard(() => {
        this.attemptTimer = null;
        this.abortAttempt(new GatewayError('upstream_timeout', `upstream sent no response within ${timeouts.firstByteMs} ms`));
      }), timeouts.firstByteMs);
    }
  }

  onHeaders(statusCode: number, rawHeaders: string[], resume: () => void): boolean {
    if (this.attemptTimer) { clearTimeout(this.attemptTimer); this.attemptTimer = null; }
    const ctx = this.plan.ctx;
    if (ctx.upstream) ctx.upstream.headersAt = performance.now();
    ctx.trace?.endAttempt(statusCode, null);
    const now = Date.now();
    if (statusCode >= 500 && this.retryable(statusCode as RetryOn)) {
      this.record(this.target!, false, now);
      this.discardAndRetry();
      return true;
    }
    this.record(this.target!, statusCode < 500, now);
    this.resumeUpstream = resume;
    const headers: string[] = [];
    let contentLength = -1;
    let named: string[] | null = null;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toLowerCase();
      switch (name) {
        case 'content-length': contentLength = Number(rawHeaders[i + 1]); continue;
        case 'date': continue; // both front ends write their own
        case 'connection':
          named = connectionTokens(rawHeaders[i + 1]!);
          continue;
      }
      if (isHopByHop(name)) continue;
      headers.push(name, rawHeaders[i + 1]!);
    }
    if (named) removeHeaders(headers, new Set(named));
    if (this.plan.onResponse) {
      const res: UpstreamHead = { status: statusCode, headers };
      this.plan.onResponse(res);
      statusCode = res.status;
    }
    headers.push('x-request-id', this.plan.ctx.requestId);
    const extra = this.plan.ctx.responseHeaders;
    if (extra) headers.push(...extra);
    this.responded = true;
    ctx.source = 'upstream';
    const headless = this.headless || statusCode === 204 || statusCode === 304;
    this.sink.start(statusCode, headers, contentLength, headless);
    if (!headless) this.sink.onDrain(this.onDrain);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.headless) return true;
    return this.sink.write(chunk);
  }

  onComplete(): void {
    this.endAttempt();
    this.finish();
    this.sink.end();
  }

  onError(err: GatewayError): void {
    if (this.discarding) { this.discarding = false; return; }
    this.plan.ctx.trace?.endAttempt(null, err.code);
    const target = this.target;
    this.endAttempt();
    if (this.finished) return;
    if (this.sink.aborted) { this.finish(); return; }
    if (this.responded) {
      // Status already sent: cutting the connection is the only honest signal left.
      this.finish();
      this.sink.destroy();
      return;
    }
    const kind = failureKind(err);
    if (kind !== 'other' && target) this.record(target, false, Date.now());
    if (err.retryable && kind !== 'other' && this.retryable(kind)) {
      this.scheduleRetry(target);
      return;
    }
    this.finishWithError(err);
  }

  /** May the request go out again after a failure of this kind? */
  private retryable(kind: RetryOn | 'other'): boolean {
    const { retry } = this.plan.target;
    if (this.retriesLeft <= 0 || this.sink.aborted || !retry.on.includes(kind as RetryOn)) return false;
    // A body already streamed upstream cannot be replayed (one read whole can); an
    // idempotent method, or a connection that never opened, is safe to send again.
    if (this.plan.body !== null && !Buffer.isBuffer(this.plan.body)) return false;
    if (!IDEMPOTENT.has(this.plan.method) && kind !== 'connect-failure') return false;
    return this.plan.target.retryBudget.tryWithdraw();
  }

  private discardAndRetry(): void {
    const target = this.target;
    this.discarding = true;
    this.endAttempt();
    this.abortAttempt(new Error('retrying on another target'));
    this.discarding = false;
    this.scheduleRetry(target);
  }

  private scheduleRetry(avoid: Target | null): void {
    this.retriesLeft--;
    this.retriesDone++;
    const base = this.plan.target.retry.backoffMs * 2 ** (this.retriesDone - 1);
    const delay = base * (0.5 + Math.random()); // jitter: 0.5–1.5 × base
    this.retryTimer = setTimeout(this.guard(() => { this.retryTimer = null; this.attempt(avoid); }), delay);
  }

  private endAttempt(): void {
    if (this.attemptTimer) { clearTimeout(this.attemptTimer); this.attemptTimer = null; }
    if (this.target) { this.target.inflight--; this.target = null; }
  }

  private finishWithError(err: GatewayError, extra?: string[]): void {
    this.finish();
    if (err.source === 'internal' && err.cause) log.error({ err: String((err.cause as Error).stack ?? err.cause), requestId: this.plan.ctx.requestId }, 'upstream exchange failed inside the gateway');
    if (!this.sink.aborted) this.plan.ctx.fail(err, extra);
  }

  /** Outcome of an attempt for outlier detection and the breaker (a probe's outcome is its verdict). */
  private record(target: Target, ok: boolean, now: number): void {
    this.probing = false;
    const ejections = target.ejections;
    this.upstream.record(target, ok, now);
    if (target.ejections !== ejections) this.plan.ctx.table.observer.metrics?.ejected(this.upstream.name, target.authority);
  }

  /** A probe slot this call took but never reported on (client left, no target, ...) goes back. */
  private releaseProbe(): void {
    if (!this.probing) return;
    this.probing = false;
    this.upstream.breaker?.releaseProbe();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.totalTimer) clearTimeout(this.totalTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.releaseProbe();
  }
}
