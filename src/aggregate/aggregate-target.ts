// The aggregate target of a route. The front thread runs the DAG: it fills each backend's
// placeholders (from the request, or from fields a pool worker read out of an earlier
// step), makes the HTTP calls with the thread's upstream clients, hands gRPC calls to the
// pool (or runs them inline like small transcoded calls), and once every backend ended —
// or the aggregate's timeout cut the rest — sends the pool one compose task with every
// backend's bytes. The worker parses, filters, merges and serialises; the answer comes
// back as transferred bytes. Below transcoding.inlineComposeBelowBytes of backend bytes the
// thread does that work itself, the hop costing more than the work (measured and argued in
// docs/aggregation.md).
import { GatewayError } from '../errors.js';
import type { RequestCtx } from '../pipeline/request-ctx.js';
import type { Target } from '../pipeline/target.js';
import type { Policy, UpstreamHead } from '../pipeline/policy.js';
import type { HttpTargetSettings } from '../proxy/http-target.js';
import type { TaskBinding, TranscodeResult, TranscodeTask } from '../transcode/task.js';
import type { TranscodeEnv } from '../transcode/transcode-target.js';
import { QueueFullError } from '../transcode/transcoder.js';
import { runCall } from '../transcode/transcode-call.js';
import { GRPC_CODE_NAMES } from '../transcode/grpc-status.js';
import { log } from '../observability/logger.js';
import type { AggregateConfig } from '../config/types.js';
import type { AggregatePlan, BackendPlan } from './aggregate-plan.js';
import type { ComposeTask, Outcome, PickResult, PickTask } from './aggregate-task.js';
import { compose, pick } from './compose.js';
import { atPath, MissingValue, renderJson, renderPath, type Placeholder } from './placeholder.js';
import { callHttpBackend } from './http-backend.js';

/** What each backend calls with: an HTTP upstream's settings, or a gRPC binding and upstream. */
export type BackendTarget = { http: HttpTargetSettings } | { grpc: { upstream: string; binding: TaskBinding } };

/** Request headers not sent to a backend: the client's framing and encodings belong to the client's request. */
const NOT_FORWARDED = new Set(['content-length', 'transfer-encoding', 'content-type', 'accept-encoding', 'accept', 'expect', 'te']);

export class AggregateTarget implements Target {
  readonly kind = 'aggregate';

  constructor(
    /** the route's name: its composition spec in the pool */
    readonly route: string,
    readonly config: AggregateConfig,
    readonly plan: AggregatePlan,
    readonly targets: readonly BackendTarget[],
    readonly env: TranscodeEnv,
    /** request headers sent as gRPC metadata */
    readonly metadataHeaders: ReadonlySet<string>,
    private readonly onResponse: readonly Policy[],
  ) {}

  call(ctx: RequestCtx): void {
    if (this.plan.readsBody && ctx.hasBody) ctx.readWhole((body) => new AggregateRun(this, ctx).start(body));
    else new AggregateRun(this, ctx).start(null);
  }

  /** The composed answer (or the pool's failure) to the client. */
  answer(ctx: RequestCtx, r: TranscodeResult): void {
    const res: UpstreamHead = { status: r.status, headers: [...r.headers] };
    for (const p of this.onResponse) p.onResponse!(ctx, res);
    res.headers.push('x-request-id', ctx.requestId);
    if (ctx.responseHeaders) res.headers.push(...ctx.responseHeaders);
    ctx.sink.sendFull(res.status, res.headers, new Uint8Array(r.body), ctx.hasBody && !ctx.wholeBody);
  }
}

const copyOf = (b: Buffer): ArrayBuffer => { const ab = new ArrayBuffer(b.length); new Uint8Array(ab).set(b); return ab; };

/** One request's run through the DAG. Every callback is guarded by ctx; nothing runs after the client left. */
class AggregateRun {
  private readonly outcomes: Array<Outcome | undefined>;
  /** values a step's dependents read, by backend (in plan.picked order) */
  private readonly picked: Array<unknown[] | undefined>;
  /** per backend: `after` entries not yet answered */
  private readonly waitingFor: number[];
  private readonly cancels = new Map<number, (o: Outcome) => void>();
  private left: number;
  private picking = 0;
  private over = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly deadline: number;
  private body: Buffer | null = null;
  private pointerValues: unknown[] = [];

  constructor(private readonly t: AggregateTarget, private readonly ctx: RequestCtx) {
    const n = t.plan.backends.length;
    this.outcomes = new Array(n);
    this.picked = new Array(n);
    this.waitingFor = t.plan.backends.map((b) => b.after.length);
    this.left = n;
    this.deadline = Date.now() + t.config.timeoutMs;
  }

  start(body: Buffer | null): void {
    const ctx = this.ctx;
    this.body = body;
    ctx.upstream = { name: 'aggregate', target: '', sentAt: performance.now(), headersAt: 0, retries: 0 };
    ctx.sink.onAborted(ctx.guard(() => this.cancelAll(null)));
    this.timer = setTimeout(ctx.guard(() => this.expire()), this.t.config.timeoutMs);
    if (body && this.t.plan.pointers.length && body.length) {
      // The client body's parts go through a worker too (parsing grows with the body).
      this.composeStep({ kind: 'pick', body: copyOf(body), isCollection: false, target: null, paths: this.t.plan.pointers }, body.length, pick).then(
        ctx.guard((r: PickResult) => {
          if (this.over) return;
          if (r.error) { this.finishEarly(new GatewayError('bad_request', `request body: ${r.error}`)); return; }
          this.pointerValues = r.values!;
          this.launchRoots();
        }),
        ctx.guard((e: Error) => this.poolFailed(e)),
      );
      return;
    }
    this.launchRoots();
  }

  private launchRoots(): void {
    for (const i of this.t.plan.roots) this.launch(i);
  }

  /** The value of a placeholder for this request. */
  private lookup = (p: Placeholder): unknown => {
    const ctx = this.ctx;
    switch (p.source) {
      case 'params': return ctx.params[p.key];
      case 'query': {
        const all = ctx.query().getAll(p.key);
        return all.length === 0 ? undefined : all.length === 1 ? all[0] : all;
      }
      case 'headers': return ctx.header(p.key);
      case 'identity': {
        const id = ctx.identity;
        if (!id) return undefined;
        switch (p.key) {
          case 'consumer': return id.consumer.id;
          case 'groups': return id.consumer.groups;
          case 'tenant': return id.consumer.tenant;
          case 'plan': return id.consumer.plan;
          case 'scopes': return id.scopes;
          default: return atPath(id.claims, p.path);
        }
      }
      case 'steps': {
        const k = this.t.plan.backends.findIndex((b) => b.config.name === p.key);
        const at = this.t.plan.backends[k]!.picked.findIndex((q) => q.join('.') === p.path.join('.'));
        return this.picked[k]?.[at];
      }
    }
  };

  private launch(i: number): void {
    if (this.over || this.outcomes[i]) return;
    const b = this.t.plan.backends[i]!;
    const target = this.t.targets[i]!;
    try {
      if ('http' in target) this.callHttp(b, target.http);
      else this.callGrpc(b, target.grpc);
    } catch (e) {
      if (!(e instanceof MissingValue)) throw e;
      const fromClient = e.placeholder.source !== 'steps';
      this.settle(i, { ok: false, status: fromClient ? 400 : 502, label: fromClient ? '400' : '502', message: e.message });
    }
  }

  private callHttp(b: BackendPlan, settings: HttpTargetSettings): void {
    const path = renderPath(b.path!, this.lookup);
    const headers: string[] = [];
    const from = this.ctx.upstreamHeaders;
    for (let k = 0; k < from.length; k += 2) if (!NOT_FORWARDED.has(from[k]!)) headers.push(from[k]!, from[k + 1]!);
    headers.push('accept', 'application/json');
    let body: Buffer | null = null;
    if (b.bodyPointer === null) body = this.body;
    else if (b.bodyPointer) {
      const v = this.pointerValues[this.t.plan.pointers.indexOf(b.bodyPointer)];
      if (v === undefined) throw new MissingValue({ source: 'query', key: '', path: [], text: `body${b.config.body as string}` });
      body = Buffer.from(JSON.stringify(v));
    }
    if (body) headers.push('content-type', 'application/json');
    const i = b.index;
    const cancel = callHttpBackend(this.ctx.table, this.ctx.requestId, { settings, method: b.config.method, path, headers, body }, this.t.config.maxBackendBytes,
      this.ctx.guard((o: Outcome) => this.settle(i, o)));
    if (!this.outcomes[i]) this.cancels.set(i, cancel);
  }

  private callGrpc(b: BackendPlan, g: { upstream: string; binding: TaskBinding }): void {
    const json = Buffer.from(JSON.stringify(renderJson(b.request!, this.lookup)));
    const ctx = this.ctx;
    const metadata: Array<[string, string]> = [];
    const h = ctx.upstreamHeaders;
    for (let k = 0; k < h.length; k += 2) if (this.t.metadataHeaders.has(h[k]!)) metadata.push([h[k]!, h[k + 1]!]);
    const env = this.t.env;
    const cancellation = env.cancellations.next();
    const ms = b.config.timeoutMs;
    const task: TranscodeTask = {
      gen: env.gen, upstream: g.upstream, binding: g.binding, vars: [], query: '', body: copyOf(json), metadata,
      deadline: ms === undefined ? this.deadline : Math.min(this.deadline, Date.now() + ms), emitDefaults: false, cancelSeq: cancellation.seq,
    };
    const i = b.index;
    this.cancels.set(i, () => cancellation.cancel());
    (json.length < env.inlineBelow ? runCall(task, env.answerOffload) : env.transcoder.run(task)).then(
      ctx.guard((r: TranscodeResult) => {
        if (r.status >= 200 && r.status < 300) { this.settle(i, { ok: true, body: r.body }); return; }
        const label = r.grpcCode !== undefined ? GRPC_CODE_NAMES[r.grpcCode] ?? String(r.grpcCode) : String(r.status);
        let message = `answered ${label}`;
        try { const m = (JSON.parse(Buffer.from(r.body).toString('utf8')) as { message?: unknown }).message; if (typeof m === 'string' && m) message = `${label}: ${m}`; } catch { /* keep the label */ }
        const status = r.status >= 400 && r.status < 500 ? r.status : r.status === 503 || r.status === 504 ? r.status : 502;
        this.settle(i, { ok: false, status, label, message, answer: status < 500 ? { headers: r.headers.slice(0, 2), body: r.body } : undefined });
      }),
      ctx.guard((e: Error) => {
        const saturated = e instanceof QueueFullError;
        if (!saturated) log.error({ err: e.message, requestId: ctx.requestId }, 'aggregate gRPC backend call failed');
        this.settle(i, { ok: false, status: saturated ? 503 : 502, label: saturated ? '503' : '502', message: saturated ? 'transcoding is saturated' : 'the call failed in the gateway' });
      }),
    );
  }

  /** Backend `i` ended: let its dependents go (after reading the fields they need), or skip them. */
  private settle(i: number, o: Outcome): void {
    if (this.over || this.outcomes[i]) return;
    this.outcomes[i] = o;
    this.cancels.delete(i);
    this.left--;
    const b = this.t.plan.backends[i]!;
    if (!o.ok) { this.skipDependents(b, `waits for "${b.config.name}", which failed`, o.status); this.maybeCompose(); return; }
    if (b.dependents.length === 0) { this.maybeCompose(); return; }
    if (b.picked.length === 0) { this.release(b); this.maybeCompose(); return; }
    this.picking++;
    this.composeStep({ kind: 'pick', body: o.body, isCollection: b.config.isCollection, target: b.config.target?.split('.') ?? null, paths: b.picked }, o.body.byteLength, pick).then(
      this.ctx.guard((r: PickResult) => {
        this.picking--;
        (this.outcomes[i] as { body: ArrayBuffer }).body = r.body; // it went to the worker and back
        if (this.over) return;
        if (r.error) this.skipDependents(b, `waits for "${b.config.name}": ${r.error}`, 502);
        else { this.picked[i] = r.values; this.release(b); }
        this.maybeCompose();
      }),
      this.ctx.guard((e: Error) => { this.picking--; this.poolFailed(e); }),
    );
  }

  /** A compose or pick task in the pool, or here when its bytes are below transcoding.inlineComposeBelowBytes. */
  private composeStep<T extends ComposeTask | PickTask, R>(task: T, bytes: number, here: (task: T) => R): Promise<R> {
    if (bytes >= this.t.env.composeBelow) return this.t.env.transcoder.run(task) as Promise<R>;
    try { return Promise.resolve(here(task)); } catch (e) { return Promise.reject(e as Error); }
  }

  private release(b: BackendPlan): void {
    for (const d of b.dependents) if (--this.waitingFor[d]! === 0) this.launch(d);
  }

  private skipDependents(b: BackendPlan, why: string, status: number): void {
    for (const d of b.dependents) this.settle(d, { ok: false, status: status >= 500 ? status : 502, label: 'skipped', message: why });
  }

  /** The aggregate's timeout: what still runs is cut and counts as timed out. */
  private expire(): void {
    this.timer = null;
    if (this.over) return;
    const o: Outcome = { ok: false, status: 504, label: '504', message: `no answer within the aggregate's ${this.t.config.timeoutMs} ms` };
    for (let i = 0; i < this.outcomes.length; i++) {
      if (this.outcomes[i]) continue; // (a for loop: the array has holes, forEach skips them)
      this.outcomes[i] = o; // first: the cancelled call's own report is then ignored
      this.cancels.get(i)?.(o);
    }
    this.cancels.clear();
    this.left = 0;
    this.maybeCompose();
  }

  private cancelAll(o: Outcome | null): void {
    this.over = true;
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    const cut: Outcome = o ?? { ok: false, status: 499, label: '499', message: 'the client left' };
    for (const cancel of this.cancels.values()) cancel(cut);
    this.cancels.clear();
  }

  private finishEarly(err: GatewayError): void {
    this.cancelAll(null);
    this.ctx.fail(err);
  }

  private poolFailed(e: Error): void {
    if (this.over) return;
    if (e instanceof QueueFullError) { this.finishEarly(new GatewayError('transcoding_saturated', 'the aggregation pool is saturated; try again')); return; }
    log.error({ err: e.message, requestId: this.ctx.requestId }, 'aggregation failed');
    this.finishEarly(new GatewayError('internal_error', 'aggregation failed'));
  }

  private maybeCompose(): void {
    if (this.over || this.left > 0 || this.picking > 0) return;
    this.over = true;
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    const ctx = this.ctx;
    ctx.upstream!.headersAt = performance.now();
    if (this.outcomes.some((o) => o!.ok)) ctx.source = 'upstream';
    const outcomes = this.outcomes as Outcome[];
    let bytes = 0;
    for (const o of outcomes) bytes += o.ok ? o.body.byteLength : o.answer?.body.byteLength ?? 0;
    this.composeStep({ kind: 'compose', gen: this.t.env.gen, route: this.t.route, requestId: ctx.requestId, outcomes }, bytes, compose).then(
      ctx.guard((r: TranscodeResult) => { if (!ctx.over) this.t.answer(ctx, r); }),
      ctx.guard((e: Error) => {
        if (ctx.over) return;
        if (e instanceof QueueFullError) ctx.fail(new GatewayError('transcoding_saturated', 'the aggregation pool is saturated; try again'), ['retry-after', '1']);
        else { log.error({ err: e.message, requestId: ctx.requestId }, 'aggregation failed'); ctx.fail(new GatewayError('internal_error', 'aggregation failed')); }
      }),
    );
  }
}
