// One HTTP backend call of an aggregate: a ProxyCall — the same balancer, health,
// outlier ejection, breaker, retries and timeouts as the thread's proxied routes to that
// upstream — whose "client" is a sink that collects the body (bounded by maxBackendBytes).
import { GatewayError } from '../errors.js';
import type { ResponseSink } from '../server/types.js';
import type { RouteTable } from '../gateway/route-table.js';
import { ProxyCall, type CallCtx } from '../proxy/proxy-call.js';
import type { HttpTargetSettings } from '../proxy/http-target.js';
import type { Outcome } from './aggregate-task.js';

/** Collects an upstream answer; `cut` ends the call (the ProxyCall sees a client that left). */
class CollectSink implements ResponseSink {
  aborted = false;
  responded = false;
  status = 0;
  bytesIn = 0;
  bytesOut = 0;
  private headers: string[] = [];
  private chunks: Buffer[] = [];
  private size = 0;
  private readonly abortCbs: Array<() => void> = [];

  constructor(private readonly max: number, private readonly done: (o: Outcome) => void) {}

  onAborted(cb: () => void): void { this.abortCbs.push(cb); }
  onFinished(): void { /* the aggregate accounts for its request */ }
  onDrain(): void { /* write never says "slow": the bound is maxBackendBytes */ }

  sendFull(status: number, headers: string[], body: string | Uint8Array): void {
    this.start(status, headers, -1);
    this.write(typeof body === 'string' ? Buffer.from(body) : body);
    this.end();
  }

  start(status: number, headers: string[], contentLength: number): void {
    if (this.responded || this.aborted) return;
    this.responded = true;
    this.status = status;
    this.headers = headers;
    if (contentLength > this.max) this.tooLarge();
  }

  write(chunk: Uint8Array): boolean {
    if (this.aborted) return true;
    this.size += chunk.byteLength;
    if (this.size > this.max) { this.tooLarge(); return true; }
    this.chunks.push(Buffer.from(chunk)); // the caller may reuse chunk
    return true;
  }

  end(): void {
    if (this.aborted) return;
    this.aborted = true; // nothing more is taken
    const ab = new ArrayBuffer(this.size);
    const view = new Uint8Array(ab);
    let at = 0;
    for (const c of this.chunks) { view.set(c, at); at += c.length; }
    this.chunks = [];
    const s = this.status;
    if (s >= 200 && s < 300) { this.done({ ok: true, body: ab }); return; }
    const type = this.headers.indexOf('content-type');
    const answer = { headers: type >= 0 && type % 2 === 0 ? ['content-type', this.headers[type + 1]!] : ['content-type', 'application/json'], body: ab };
    if (s >= 400 && s < 500) this.done({ ok: false, status: s, label: String(s), message: `answered ${s}`, answer });
    else this.done({ ok: false, status: 502, label: String(s), message: `answered ${s}` });
  }

  destroy(): void {
    this.fail({ ok: false, status: 502, label: '502', message: 'the connection closed in the middle of the response' });
  }

  /** Ends the call with `o` (the ProxyCall is told the client left, and stops). */
  fail(o: Outcome): void {
    if (this.aborted) return;
    this.aborted = true;
    this.chunks = [];
    this.done(o);
    for (const cb of this.abortCbs) cb();
  }

  private tooLarge(): void {
    this.fail({ ok: false, status: 502, label: '502', message: `the response is larger than maxBackendBytes (${this.max})` });
  }
}

export interface HttpBackendRequest {
  settings: HttpTargetSettings;
  method: string;
  path: string;
  headers: string[];
  body: Buffer | null;
}

/** Starts the call; `done` runs once with how it ended. Returns a cancel (timeout, client gone). */
export function callHttpBackend(table: RouteTable, requestId: string, req: HttpBackendRequest, max: number, done: (o: Outcome) => void): (o: Outcome) => void {
  const sink = new CollectSink(max, done);
  const ctx: CallCtx = {
    sink, requestId, table, upstream: null, trace: null, responseHeaders: null, source: 'gateway',
    fail: (err: GatewayError) => sink.fail({ ok: false, status: err.status, label: String(err.status), message: err.message }),
  };
  new ProxyCall({
    target: req.settings, method: req.method, path: req.path, headers: req.headers, preservedHost: null,
    body: req.body, contentLength: req.body ? req.body.length : 0, hashKey: undefined, ctx, onResponse: null,
  }).start();
  return (o) => sink.fail(o);
}
