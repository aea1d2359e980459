// The `websocket` key of a route (docs/websocket.md): the route accepts WebSocket upgrades
// and relays frames to its upstream. true takes every default.
import { MAX_WEBSOCKET_MESSAGE_BYTES } from '../server/types.js';

export const websocketSchema = {
  description: 'true, or settings: the route takes WebSocket upgrades and relays them to its upstream (ws:// for http targets, wss:// for https). A plain request to it gets 426. See websocket.md.',
  oneOf: [
    { type: 'boolean' },
    {
      type: 'object',
      additionalProperties: false,
      properties: {
        maxMessageBytes: { type: 'integer', minimum: 1, maximum: MAX_WEBSOCKET_MESSAGE_BYTES, description: `Largest message either side may send (default 1 MiB, at most ${MAX_WEBSOCKET_MESSAGE_BYTES}); a bigger one closes that side with 1009 and the other with 1001.` },
        idleTimeoutMs: { type: 'integer', minimum: 1000, maximum: 86400000, description: 'No message either way for this long closes both sides with 1001 (default 300000).' },
        pingIntervalMs: { type: 'integer', minimum: 0, maximum: 3600000, description: 'Ping both sides this often; a side that has not answered the previous ping is dropped (default 30000; 0: no pings).' },
        maxConnections: { type: 'integer', minimum: 1, maximum: 10000000, description: 'Open WebSockets of the route per front-end thread; past it the upgrade gets 503 (default 10000).' },
        messagesPerSecond: { type: 'integer', minimum: 0, maximum: 1000000, description: 'Client messages per second per connection (a bucket of one second\'s worth); past it the client is closed with 1008 (default 0: no limit).' },
        compression: { type: 'boolean', description: 'Negotiate permessage-deflate with the client and the upstream (default false).' },
      },
    },
  ],
} as const;
