// A WebSocket route's answer to a request that asked for a WebSocket the engine would not
// upgrade (a malformed handshake, websocket-handshake.ts): 400, or 426 naming the version.
import { GatewayError } from '../errors.js';
import type { RequestCtx } from '../pipeline/request-ctx.js';
import { VERSION_HEADERS, webSocketHandshake } from '../server/websocket-handshake.js';

export const UPGRADE_HEADERS: readonly string[] = ['upgrade', 'websocket', 'connection', 'upgrade'];

/** true: the request asked for a WebSocket and got its refusal; false: it asked for none. */
export function refusedHandshake(ctx: RequestCtx): boolean {
  const handshake = webSocketHandshake(ctx.head.method, ctx.head.rawHeaders);
  if (typeof handshake !== 'object') return false;
  // the client meant to leave HTTP on this connection: it is closed after the answer
  if (handshake.status === 426) ctx.fail(new GatewayError('upgrade_required', handshake.message), [...VERSION_HEADERS, ...UPGRADE_HEADERS], true);
  else ctx.fail(new GatewayError('bad_request', handshake.message), null, true);
  return true;
}
