// Walks a compiled chain of onRequest hooks in order, then calls `next` (the target).
// A synchronous hook costs one call; a hook that returns a promise makes the runner hold
// the body that arrives meanwhile and continue, guarded, when it settles. A route without
// hooks never enters here (the route table compiles an empty chain to a direct call).
// A sampled request's trace gets one span per hook (auth, rate-limit, ...).
import { SpanKind } from '@opentelemetry/api';
import type { Policy } from './policy.js';
import type { RequestCtx } from './request-ctx.js';

/** Runs chain[from..] on ctx; `next` runs once every hook said 'continue'. */
export function runChain(ctx: RequestCtx, chain: readonly Policy[], from: number, next: (ctx: RequestCtx) => void): void {
  const traced = ctx.trace?.sampled === true;
  for (let i = from; i < chain.length; i++) {
    const p = chain[i]!;
    const t0 = traced ? performance.now() : 0;
    const v = p.onRequest!(ctx);
    if (v === 'continue') { if (traced) span(ctx, p, t0); continue; }
    if (v === 'responded') { if (traced) span(ctx, p, t0); answered(ctx, p); return; }
    ctx.holdBody();
    const after = i + 1;
    v.then(
      ctx.guard((r: 'continue' | 'responded') => {
        if (traced) span(ctx, p, t0);
        if (ctx.sink.aborted) return;
        if (r === 'continue') runChain(ctx, chain, after, next);
        else answered(ctx, p);
      }),
      (e: unknown) => ctx.crashed(e),
    );
    return;
  }
  next(ctx);
}

function span(ctx: RequestCtx, p: Policy, start: number): void {
  ctx.trace!.step(`policy ${p.id}`, SpanKind.INTERNAL, start, performance.now(), { 'gateway.policy': p.id }, ctx.sink.responded ? ctx.errorCode ?? undefined : undefined);
}

/** A hook that says it answered must have: otherwise the request would hang (a bug: 500). */
function answered(ctx: RequestCtx, p: Policy): void {
  if (!ctx.sink.responded && !ctx.sink.aborted) ctx.crashed(new Error(`policy "${p.id}" returned 'responded' without answering`));
}
