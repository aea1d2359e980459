// The WebSocket benchmark's upstream: a bare uWS echo server. Prints {"port"}.
import { loadNativeUws } from '../src/server/uws-loader.js';

const uws = loadNativeUws();
uws.App().ws('/*', { maxPayloadLength: 1024 * 1024, idleTimeout: 0, message: (ws, message, isBinary) => { ws.send(message, isBinary); } })
  .listen('127.0.0.1', 0, (socket) => { process.stdout.write(JSON.stringify({ port: uws.us_socket_local_port(socket) }) + '\n'); });
