// What every gateway-held WebSocket shares: callbacks whose exceptions end one connection
// (never the process), and the timer of its idle and ping checks.
import type { WebSocketSettings } from './websocket-settings.js';

/** `fn` with its exceptions handed to `crashed`. */
export function guarded<A extends unknown[]>(fn: (...a: A) => void, crashed: (e: Error) => void): (...a: A) => void {
  return (...a: A) => { try { fn(...a); } catch (e) { crashed(e as Error); } };
}

/** Calls `tick` as often as the shorter of the idle timeout and the ping interval; unref'd. */
export function livenessTimer(s: WebSocketSettings, tick: () => void): NodeJS.Timeout {
  const timer = setInterval(tick, Math.min(s.idleTimeoutMs, s.pingIntervalMs || Infinity));
  timer.unref();
  return timer;
}
