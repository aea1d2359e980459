// Real HTTP upstreams on loopback for the e2e tests, with a record of what they received
// and a count of open connections.
import http from 'node:http';
import net from 'node:net';

export interface Seen { method: string; url: string; headers: http.IncomingHttpHeaders; rawHeaders: string[]; body: Buffer }

export interface Upstream {
  server: http.Server;
  port: number;
  url: string;
  seen: Seen[];
  openSockets(): number;
  close(): Promise<void>;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;

const echo: Handler = (req, res, body) => {
  const text = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyBytes: body.length });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

/** An upstream that buffers each request body (for small bodies) and answers with `handler`. */
export function startUpstream(handler: Handler = echo, opts: { streaming?: (req: http.IncomingMessage, res: http.ServerResponse) => void } = {}): Promise<Upstream> {
  const seen: Seen[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    if (opts.streaming) { opts.streaming(req, res); return; }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body });
      handler(req, res, body);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        server, port, url: `http://127.0.0.1:${port}`, seen,
        openSockets: () => sockets.size,
        close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
      });
    });
  });
}

/** A port with nothing listening on it (bound then released). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
