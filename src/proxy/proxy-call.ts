// One proxied request: the upstream client's handler. It streams the upstream response to
// the client sink with backpressure, enforces the route's total timeout, and turns
// failures into the right status.
import { GatewayError } from '../errors.js';
import type { UpstreamHandler } from '../upstream/http1-client.js';
import type { ResponseSink } from '../server/types.js';
import { isHopByHop } from './request-headers.js';
import { applyHeaderOps, type CompiledHeaderOps } from './header-ops.js';

export interface CallDone {
  (call: ProxyCall): void;
}

export type ErrorResponder = (sink: ResponseSink, err: GatewayError, requestId: string) => void;

/** Maps a transport error from the upstream client to the gateway error a client sees. */
export function upstreamError(err: Error & { code?: string }, timeoutMs: number): GatewayError {
  if (err instanceof GatewayError) return err;
  switch (err.code) {
    case 'ECONNREFUSED': case 'ENOTFOUND': case 'EHOSTUNREACH': case 'ENETUNREACH': case 'EAI_AGAIN':
    case 'UPSTREAM_CONNECT_TIMEOUT': case 'ETIMEDOUT':
      return new GatewayError('upstream_unavailable', 'upstream is unavailable (connection failed)', 'upstream', true);
    case 'ECONNRESET': case 'EPIPE': case 'UPSTREAM_CLOSED':
      return new GatewayError('upstream_reset', 'upstream closed the connection', 'upstream', true);
    case 'UPSTREAM_POOL_CLOSED':
      return new GatewayError('service_unavailable', 'upstream pool is closed', 'internal', true);
    default:
      if (err.code?.startsWith('HPE_')) return new GatewayError('upstream_bad_response', 'upstream sent an invalid response', 'upstream');
      if (err.code?.startsWith('ERR_TLS') || err.code?.includes('CERT')) return new GatewayError('upstream_unavailable', 'upstream TLS handshake failed', 'upstream');
      return new GatewayError('upstream_bad_response', 'upstream request failed', 'upstream');
  }
}

export class ProxyCall implements UpstreamHandler {
  private abortUpstream: ((err: Error) => void) | null = null;
  private pendingAbort: Error | null = null;
  private resumeUpstream: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private responded = false;
  private finished = false;
  private readonly onDrain = () => this.resumeUpstream?.();

  constructor(
    private readonly sink: ResponseSink,
    private readonly requestId: string,
    private readonly headless: boolean,
    private readonly responseOps: CompiledHeaderOps | null,
    private readonly timeoutMs: number,
    private readonly respondError: ErrorResponder,
    private readonly done: CallDone,
  ) {
    this.timer = setTimeout(() => {
      this.timer = null;
      this.abort(new GatewayError('upstream_timeout', `upstream did not answer within ${timeoutMs} ms`, 'upstream', true));
    }, timeoutMs);
    sink.onAborted(() => this.abort(new GatewayError('bad_request', 'client closed the connection')));
  }

  /** Stops the upstream exchange; that connection is destroyed, never reused. */
  abort(err: Error): void {
    if (this.finished) return;
    if (this.abortUpstream) this.abortUpstream(err);
    else this.pendingAbort = err;
  }

  onConnect(abort: (err: Error) => void): void {
    this.abortUpstream = abort;
    if (this.pendingAbort) abort(this.pendingAbort);
  }

  onHeaders(statusCode: number, rawHeaders: string[], resume: () => void): boolean {
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
          named = rawHeaders[i + 1]!.toLowerCase().split(',').map((t) => t.trim());
          continue;
      }
      if (isHopByHop(name)) continue;
      headers.push(name, rawHeaders[i + 1]!);
    }
    if (named) {
      for (let i = headers.length - 2; i >= 0; i -= 2) if (named.includes(headers[i]!)) headers.splice(i, 2);
    }
    if (this.responseOps) applyHeaderOps(headers, this.responseOps);
    headers.push('x-request-id', this.requestId);
    this.responded = true;
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
    this.finish();
    this.sink.end();
  }

  onError(err: Error & { code?: string }): void {
    this.finish();
    if (this.sink.aborted) return;
    if (this.responded) {
      // Status already sent: cutting the connection is the only honest signal left.
      this.sink.destroy();
      return;
    }
    this.respondError(this.sink, upstreamError(err, this.timeoutMs), this.requestId);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.done(this);
  }
}
