// The WebSocket target of a route. The route's policies already ran on the upgrade request
// (a refusal is its HTTP status, not a dropped socket). This opens the upstream WebSocket
// first — through the upstream's breaker and balancer, with the forwarding headers and the
// client's subprotocol offers — and accepts the client only once the upstream said 101,
// with the subprotocol the upstream chose. A connect failure is retried once on another
// target; a refusal answers the client with the upstream's 4xx (or 502).
import { WebSocket, type ClientOptions } from 'ws';
import type { IncomingMessage } from 'node:http';
import { GatewayError, errorBody } from '../errors.js';
import type { RequestCtx } from '../pipeline/request-ctx.js';
import type { Target } from '../pipeline/target.js';
import type { Target as UpstreamTarget, Upstream } from '../upstream/upstream.js';
import type { PathBuilder } from '../proxy/http-target.js';
import { WebSocketRelay } from './relay.js';
import { refusedHandshake, UPGRADE_HEADERS } from './handshake-refusal.js';
import { SocketCap } from './socket-cap.js';
import type { WebSocketSettings } from './websocket-settings.js';
import { NO_COUNT, type WebSocketCounters } from '../observability/metrics/request-metrics.js';

export interface WebSocketTargetSettings {
  readonly upstream: Upstream;
  readonly buildPath: PathBuilder | null;
  /** the opening handshake's deadline */
  readonly handshakeMs: number;
  readonly preserveHost: boolean;
  readonly ws: WebSocketSettings;
  /** null: metrics are off */
  readonly counters: WebSocketCounters | null;
}

/** Client headers that belong to the client's own handshake (ws makes the upstream's). */
const HANDSHAKE = /^sec-websocket-/;

export class WebSocketTarget implements Target {
  readonly kind = 'websocket';
  private readonly cap: SocketCap;

  constructor(readonly settings: WebSocketTargetSettings) {
    this.cap = new SocketCap(settings.ws.maxConnections);
  }

  call(ctx: RequestCtx): void {
    const upgrade = ctx.sink.upgrade;
    if (!upgrade) {
      if (!refusedHandshake(ctx)) ctx.fail(new GatewayError('upgrade_required', 'this route takes WebSocket upgrades only'), UPGRADE_HEADERS);
      return;
    }
    const release = this.cap.take(ctx);
    if (!release) return;
    ctx.sink.onAborted(release);
    this.connect(ctx, null, release);
  }

  private connect(ctx: RequestCtx, avoid: UpstreamTarget | null, release: () => void): void {
    const s = this.settings;
    const up = s.upstream;
    const now = Date.now();
    const breaker = up.breaker;
    const verdict = breaker ? breaker.allow(now) : true;
    if (!verdict) {
      release();
      ctx.fail(new GatewayError('circuit_open', `upstream "${up.name}" is failing; circuit open`), ['retry-after', String(breaker!.retryAfterSec(now))]);
      return;
    }
    // a half-open probe that ends without an outcome gives its slot back (as ProxyCall's do)
    const releaseProbe = () => { if (verdict === 'probe') breaker!.releaseProbe(); };
    const target = up.pick({ hashKey: undefined, avoid, now });
    if (!target) { releaseProbe(); release(); ctx.fail(new GatewayError('no_healthy_target', `no healthy target in upstream "${up.name}"`)); return; }
    let path = s.buildPath ? s.buildPath(ctx.path, ctx.params, ctx.wildcard) : ctx.path;
    if (ctx.upstreamQuery) path += '?' + ctx.upstreamQuery;
    const url = target.origin.replace(/^http/, 'ws') + path;
    const headers: Record<string, string> = {};
    const h = ctx.upstreamHeaders;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i]!;
      if (HANDSHAKE.test(name)) continue;
      const prev = headers[name];
      headers[name] = prev === undefined ? h[i + 1]! : `${prev}${name === 'cookie' ? '; ' : ', '}${h[i + 1]!}`;
    }
    headers.host = s.preserveHost && ctx.scanned.hostHeader ? ctx.scanned.hostHeader : target.authority;
    const options: ClientOptions = {
      headers, handshakeTimeout: s.handshakeMs, maxPayload: s.ws.maxMessageBytes, perMessageDeflate: s.ws.compression, followRedirects: false,
      ...(target.tls ? { ca: target.tls.ca, rejectUnauthorized: target.tls.rejectUnauthorized, servername: target.tls.servername } : {}),
    };
    ctx.upstream = { name: up.name, target: target.authority, sentAt: performance.now(), headersAt: 0, retries: avoid ? 1 : 0 };
    target.inflight++;
    let settled = false;
    const settle = (ok: boolean | null): boolean => {
      if (settled) return false;
      settled = true;
      target.inflight--;
      if (ok !== null) up.record(target, ok, Date.now());
      else releaseProbe();
      return true;
    };
    let socket: WebSocket;
    try {
      socket = new WebSocket(url, [...ctx.sink.upgrade!.protocols], options);
    } catch (e) {
      // ws refuses what it cannot send: a duplicated or malformed subprotocol token
      settle(null);
      release();
      ctx.fail(new GatewayError('bad_request', `the WebSocket upgrade cannot be forwarded: ${(e as Error).message}`));
      return;
    }
    ctx.sink.onAborted(() => { if (settle(null)) socket.terminate(); });
    socket.on('unexpected-response', ctx.guard((_req: unknown, res: IncomingMessage) => {
      res.resume();
      if (!settle(res.statusCode! < 500) || ctx.over) { socket.terminate(); return; }
      socket.terminate();
      release();
      const status = res.statusCode!;
      ctx.source = 'upstream';
      const message = `the upstream answered the WebSocket upgrade with ${status}`;
      if (status >= 400 && status < 500) {
        ctx.sink.sendFull(status, ['content-type', 'application/json', 'x-request-id', ctx.requestId, ...(ctx.responseHeaders ?? [])], errorBody('websocket_upgrade_refused', message, ctx.requestId));
      } else ctx.fail(new GatewayError('websocket_upgrade_refused', message));
    }));
    socket.on('error', ctx.guard((e: Error) => {
      if (!settle(false) || ctx.over) return;
      const timedOut = /handshake has timed out/i.test(e.message);
      if (!timedOut && !avoid && up.targets.length > 1) { this.connect(ctx, target, release); return; } // once, elsewhere
      release();
      ctx.fail(timedOut
        ? new GatewayError('upstream_connect_timeout', `the upstream did not complete the WebSocket handshake within ${s.handshakeMs} ms`)
        : new GatewayError('upstream_unavailable', `the WebSocket connection to the upstream failed: ${e.message}`));
    }));
    socket.on('open', ctx.guard(() => {
      if (!settle(true) || ctx.over) { socket.terminate(); return; }
      ctx.upstream!.headersAt = performance.now();
      ctx.source = 'upstream';
      const relay = new WebSocketRelay(socket, s.ws, { closed: release, message: s.counters?.message ?? NO_COUNT }, ctx.requestId);
      const client = ctx.sink.upgrade!.accept(socket.protocol || null, s.ws.compression, relay);
      if (!client) { socket.terminate(); release(); return; }
      s.counters?.opened();
      relay.attach(client);
    }));
  }
}
