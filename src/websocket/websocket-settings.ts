// A WebSocket route's settings with their defaults (the schema documents them).
import type { WebSocketRouteConfig } from '../config/types.js';

export interface WebSocketSettings {
  readonly maxMessageBytes: number;
  readonly idleTimeoutMs: number;
  readonly pingIntervalMs: number;
  readonly maxConnections: number;
  readonly messagesPerSecond: number;
  readonly compression: boolean;
}

export function websocketSettings(c: true | WebSocketRouteConfig): WebSocketSettings {
  const o = c === true ? {} : c;
  return Object.freeze({
    maxMessageBytes: o.maxMessageBytes ?? 1024 * 1024,
    idleTimeoutMs: o.idleTimeoutMs ?? 300_000,
    pingIntervalMs: o.pingIntervalMs ?? 30_000,
    maxConnections: o.maxConnections ?? 10_000,
    messagesPerSecond: o.messagesPerSecond ?? 0,
    compression: o.compression ?? false,
  });
}
