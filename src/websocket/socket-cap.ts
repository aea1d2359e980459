// A route's cap on open WebSockets (`maxConnections`, per front-end thread), for proxied and
// bridged sockets alike: a slot is taken at the upgrade and given back once, however the
// socket (or its handshake) ends.
import { GatewayError } from '../errors.js';
import type { RequestCtx } from '../pipeline/request-ctx.js';

export class SocketCap {
  /** sockets open on this thread, and upgrades under way */
  private open = 0;

  constructor(private readonly max: number) {}

  /** The slot's release (safe to call more than once), or null: the route is full and the 503 answered. */
  take(ctx: RequestCtx): (() => void) | null {
    if (this.open >= this.max) {
      ctx.fail(new GatewayError('websocket_connection_limit', `the route has ${this.max} WebSockets open`), ['retry-after', '1']);
      return null;
    }
    this.open++;
    let held = true;
    return () => { if (held) { held = false; this.open--; } };
  }
}
