// The optional plain-HTTP listener of a TLS gateway: every request gets a 308 to the same
// host and path on https (308 keeps the method and body, unlike 301).
import http from 'node:http';

export function startHttpsRedirect(host: string, port: number, httpsPort: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const hostHeader = req.headers.host;
    const name = hostHeader ? hostHeader.replace(/:\d+$/, '') : '';
    if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)$/.test(name)) {
      const body = JSON.stringify({ error: { code: 'bad_request', message: 'a Host header is required for the redirect to https' } });
      res.writeHead(400, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
      return;
    }
    const location = `https://${name}${httpsPort === 443 ? '' : `:${httpsPort}`}${req.url ?? '/'}`;
    res.writeHead(308, { location, 'content-length': 0, connection: 'close' }).end();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(server); });
  });
}
