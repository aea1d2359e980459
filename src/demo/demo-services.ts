// Two small HTTP services (users, orders) and a WebSocket echo service (chat) that the demo config routes to.
import http from 'node:http';
import { WebSocketServer } from 'ws';

export interface DemoService { name: string; port: number; server: http.Server }

const users = [
  { id: '1', name: 'Ada Lovelace', email: 'ada@example.com', favoriteShelf: 'classics' },
  { id: '2', name: 'Alan Turing', email: 'alan@example.com', favoriteShelf: 'computing' },
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

function handler(name: string, rows: Array<{ id: string; userId?: string }>): http.RequestListener {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://demo');
    const seen = { service: name, path: url.pathname, requestId: req.headers['x-request-id'], forwardedFor: req.headers['x-forwarded-for'] };
    if (url.pathname === '/health') return json(res, 200, { status: 'ok', service: name });
    const parts = url.pathname.split('/').filter(Boolean);
    const userId = url.searchParams.get('userId'); // the profile aggregate asks for one user's orders
    if (parts.length === 0) return json(res, 200, { ...seen, items: userId === null ? rows : rows.filter((r) => r.userId === userId) });
    const row = rows.find((r) => r.id === parts[0]);
    if (!row) return json(res, 404, { ...seen, error: `${name} ${parts[0]} not found` });
    return json(res, 200, { ...seen, item: row });
  };
}

/** chat: every WebSocket message comes back as "echo: <message>" (plain GETs get a hint). */
function chatServer(): http.Server {
  const server = http.createServer((_req, res) => json(res, 200, { service: 'chat', hint: 'connect with a WebSocket client' }));
  const wss = new WebSocketServer({ server, maxPayload: 64 * 1024 });
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo: ${data.toString()}`, { binary: isBinary }));
  });
  return server;
}

export async function startDemoServices(): Promise<DemoService[]> {
  const specs: Array<[string, http.Server]> = [['users', http.createServer(handler('users', users))], ['orders', http.createServer(handler('orders', orders))], ['chat', chatServer()]];
  return Promise.all(specs.map(([name, server]) => new Promise<DemoService>((resolve) => {
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
  chat:   { targets: [ { url: "http://127.0.0.1:${ports.chat}" } ] }
  catalog:
    protocol: grpc
    targets: [ { url: "grpc://127.0.0.1:${ports.catalog}" } ]
    protos: { files: [demo/catalog.proto], includeDirs: [${JSON.stringify(protoDir)}] }
routes:
  - name: chat
    match: { path: /ws/echo }
    upstream: chat
    rewrite: /
    websocket: { maxMessageBytes: 65536, idleTimeoutMs: 60000 }
  - name: catalog-api
    match: { prefix: /v1 }
    # WebSocket upgrades reach every method too (JSON frames; examples/grpc-ws.mjs)
    transcode: { upstream: catalog, services: [demo.catalog.v1.Catalog], websocket: { idleTimeoutMs: 60000 } }
  - name: catalog-grpc-web
    match: { prefix: /demo.catalog.v1.Catalog/ }
    transcode: { upstream: catalog, services: [demo.catalog.v1.Catalog], grpcWeb: true }
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
  # One request, three backends (two HTTP, one gRPC after the user), one JSON answer.
  - name: profile
    match: { path: /api/profile/:id, methods: [GET] }
    aggregate:
      timeoutMs: 2000
      backends:
        - { name: user, upstream: users, path: "/{params.id}", required: true, target: item, allow: [id, name, favoriteShelf], group: user }
        - { name: orders, upstream: orders, path: "/?userId={params.id}", allow: [items], mapping: { items: orders }, timeoutMs: 1000, fallback: { orders: [] } }
        - name: recommendations
          grpc: { upstream: catalog, method: demo.catalog.v1.Catalog/ListBooks, request: { shelf: "{steps.user.favoriteShelf}", page_size: 2 } }
          after: [user]
          allow: [books]
          group: recommendations
`;
}
