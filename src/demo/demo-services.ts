// Two small HTTP services (users, orders) that the demo config routes to.
import http from 'node:http';

export interface DemoService { name: string; port: number; server: http.Server }

const users = [
  { id: '1', name: 'Ada Lovelace', email: 'ada@example.com' },
  { id: '2', name: 'Alan Turing', email: 'alan@example.com' },
];
const orders = [
  { id: '100', userId: '1', item: 'Analytical Engine', total: 1843 },
  { id: '101', userId: '2', item: 'Bombe', total: 1939 },
];

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function handler(name: string, rows: Array<{ id: string }>): http.RequestListener {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://demo');
    const seen = { service: name, path: url.pathname, requestId: req.headers['x-request-id'], forwardedFor: req.headers['x-forwarded-for'] };
    if (url.pathname === '/health') return json(res, 200, { status: 'ok', service: name });
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts.length === 0) return json(res, 200, { ...seen, items: rows });
    const row = rows.find((r) => r.id === parts[0]);
    if (!row) return json(res, 404, { ...seen, error: `${name} ${parts[0]} not found` });
    return json(res, 200, { ...seen, item: row });
  };
}

export async function startDemoServices(): Promise<DemoService[]> {
  const specs: Array<[string, http.RequestListener]> = [['users', handler('users', users)], ['orders', handler('orders', orders)]];
  return Promise.all(specs.map(([name, h]) => new Promise<DemoService>((resolve) => {
    const server = http.createServer(h);
    server.listen(0, '127.0.0.1', () => resolve({ name, port: (server.address() as { port: number }).port, server }));
  })));
}

/** The embedded demo config, pointing at the demo services' ports. */
export function demoConfigYaml(ports: Record<string, number>, listenPort: number, protoDir: string): string {
  return `# Demo config: two HTTP services and a gRPC service (REST/JSON through transcoding).
listen: { host: 127.0.0.1, port: ${listenPort} }
admin: { host: 127.0.0.1, port: 0 }
upstreams:
  users:  { targets: [ { url: "http://127.0.0.1:${ports.users}" } ] }
  orders: { targets: [ { url: "http://127.0.0.1:${ports.orders}" } ] }
  catalog:
    protocol: grpc
    targets: [ { url: "grpc://127.0.0.1:${ports.catalog}" } ]
    protos: { files: [demo/catalog.proto], includeDirs: [${JSON.stringify(protoDir)}] }
routes:
  - name: catalog-api
    match: { prefix: /v1 }
    transcode: { upstream: catalog, services: [demo.catalog.v1.Catalog] }
  - name: users
    match: { prefix: /api/users, methods: [GET, HEAD] }
    upstream: users
    stripPrefix: true
    responseHeaders: { add: { x-served-by: users } }
    rateLimit: [ { key: [ip], rate: 5, per: second, burst: 10 } ]
  - name: order-by-id
    match: { path: /api/orders/:id, methods: [GET] }
    upstream: orders
    rewrite: /:id
  - name: orders
    match: { path: /api/orders, methods: [GET] }
    upstream: orders
    rewrite: /
`;
}
