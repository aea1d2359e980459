// The HTTP upstream target of a route: builds the upstream request from the context (path
// rewrite, query, forwarding headers, consistent-hash key), decides how the body travels
// (read whole when validation already read it or a retry may replay it; streamed
// otherwise) and runs a ProxyCall.
import type { HashOn, RetryConfig } from '../config/types.js';
import type { RequestCtx } from '../pipeline/request-ctx.js';
import type { Target } from '../pipeline/target.js';
import type { Policy, UpstreamHead } from '../pipeline/policy.js';
import type { Upstream } from '../upstream/upstream.js';
import type { RetryBudget } from '../upstream/retry-budget.js';
import { ProxyCall, type CallPlan } from './proxy-call.js';
import { RequestBodyStream } from './request-body.js';
import { cookieValue } from './credentials.js';

export type PathBuilder = (path: string, params: Record<string, string>, wildcard: string | null) => string;

export interface HttpTargetSettings {
  readonly upstream: Upstream;
  /** null: forward the path as received */
  readonly buildPath: PathBuilder | null;
  readonly timeouts: { readonly connectMs?: number; readonly firstByteMs?: number; readonly totalMs: number };
  readonly retry: RetryConfig;
  readonly retryBudget: RetryBudget;
  readonly preserveHost: boolean;
  /** the route's policies with an onResponse hook, in order */
  readonly onResponse: readonly Policy[];
}

/** The consistent-hash key of a request: a header, a cookie, or the client address. */
function hashKeyOf(on: HashOn, ctx: RequestCtx): string | undefined {
  if (on === 'ip') return ctx.clientIp;
  if ('header' in on) return ctx.header(on.header.toLowerCase());
  return cookieValue(ctx.header('cookie'), on.cookie);
}

export class HttpTarget implements Target {
  readonly kind = 'http';
  private readonly hashOn: HashOn | null;

  constructor(readonly settings: HttpTargetSettings) {
    const up = settings.upstream.config;
    this.hashOn = up.balance === 'consistent-hash' ? up.hashOn ?? 'ip' : null;
  }

  call(ctx: RequestCtx): void {
    const s = this.settings;
    const { head, scanned } = ctx;
    let path = s.buildPath ? s.buildPath(ctx.path, ctx.params, ctx.wildcard) : ctx.path;
    if (ctx.upstreamQuery) path += '?' + ctx.upstreamQuery;
    const hooks = s.onResponse;
    const plan: CallPlan = {
      target: s,
      method: head.method,
      path,
      headers: ctx.upstreamHeaders,
      preservedHost: s.preserveHost && scanned.hostHeader ? scanned.hostHeader : null,
      body: null,
      // the client writes the framing: a length, chunked for a stream, nothing without a body
      contentLength: scanned.chunked ? -1 : scanned.contentLength,
      hashKey: this.hashOn === null ? undefined : hashKeyOf(this.hashOn, ctx),
      ctx,
      onResponse: hooks.length ? (res: UpstreamHead) => { for (const p of hooks) p.onResponse!(ctx, res); } : null,
    };
    const start = () => new ProxyCall(plan).start();
    const limits = ctx.table.config.limits;
    if (ctx.wholeBody) {
      setWholeBody(plan, ctx.wholeBody);
      start();
      return;
    }
    if (!ctx.hasBody) { start(); return; }
    if (scanned.contentLength > 0 && scanned.contentLength <= Math.min(s.retry.bufferBodyBytes, limits.maxBufferedBodyBytes)) {
      // Small enough to read whole first: a retry can then send it again.
      ctx.readWhole((whole) => { setWholeBody(plan, whole); start(); });
      return;
    }
    const body = ctx.takeBody();
    if (body) plan.body = new RequestBodyStream(body, limits.maxBodyBytes);
    start();
  }
}

/** The upstream request carries this whole body with its exact length (the client writes the framing). */
function setWholeBody(plan: CallPlan, whole: Buffer): void {
  plan.body = whole;
  plan.contentLength = whole.length;
}
