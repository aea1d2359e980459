// A JWKS endpoint on loopback whose key set can be swapped or taken down, counting fetches.
import http from 'node:http';
import type { JWK } from 'jose';

export interface JwksServer {
  url: string;
  fetches: number;
  keys: JWK[];
  down: boolean;
  close(): Promise<void>;
}

export async function startJwksServer(keys: JWK[]): Promise<JwksServer> {
  const state = { fetches: 0, keys, down: false } as JwksServer;
  const server = http.createServer((_req, res) => {
    state.fetches++;
    if (state.down) { res.writeHead(503).end('down'); return; }
    const body = JSON.stringify({ keys: state.keys });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/.well-known/jwks.json`;
  state.close = () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); });
  return state;
}
