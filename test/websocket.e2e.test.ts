// WebSocket proxying over real sockets, both engines: a ws-package upstream behind a
// `websocket` route, driven by ws clients (and raw sockets where the bytes matter).
import t, { type Test } from 'tap';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { WebSocket, WebSocketServer } from 'ws';
import { startGatewayProcess, ENGINES, type GatewayProcess } from './helpers/gateway-process.js';
import { request } from './helpers/client.js';
import { makeCerts } from './helpers/certs.js';

interface Seen { path: string; headers: http.IncomingHttpHeaders }
interface WsUpstream { url: string; port: number; seen: Seen[]; closes: Array<{ code: number; reason: string }>; open(): number; floodQueued: number[]; close(): Promise<void> }

/** The upstream: /echo echoes (a text "close:CODE:REASON" makes it close so), /flood sends
 * 100 MB as fast as its socket takes it, /die drops the TCP connection, /deaf stops reading,
 * /refuse answers the upgrade 403, /broken answers it 500. It picks "chat.v2" when offered. */
async function wsUpstream(): Promise<WsUpstream> {
  const seen: Seen[] = [];
  const closes: Array<{ code: number; reason: string }> = [];
  const floodQueued: number[] = [];
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024, handleProtocols: (p) => (p.has('chat.v2') ? 'chat.v2' : false) });
  const server = http.createServer((_req, res) => { res.writeHead(200); res.end('plain'); });
  server.on('upgrade', (req, socket, head) => {
    const path = req.url!.split('?')[0]!;
    seen.push({ path: req.url!, headers: req.headers });
    if (path === '/refuse' || path === '/broken') {
      socket.end(`HTTP/1.1 ${path === '/refuse' ? '403 Forbidden' : '500 Internal Server Error'}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('close', (code, reason) => closes.push({ code, reason: reason.toString() }));
      ws.on('error', () => {});
      if (path === '/die') { setTimeout(() => socket.destroy(), 50); return; }
      if (path === '/deaf') { ws.pause(); return; }
      if (path === '/flood') {
        const chunk = Buffer.alloc(64 * 1024, 7);
        let sent = 0;
        const pump = () => {
          while (sent < 100 * 1024 * 1024 && ws.readyState === WebSocket.OPEN) {
            sent += chunk.length;
            const last = sent >= 100 * 1024 * 1024;
            ws.send(chunk, { binary: true }, last ? () => ws.send('done') : undefined);
            if (ws.bufferedAmount > 1024 * 1024) { floodQueued.push(ws.bufferedAmount); setTimeout(pump, 5); return; }
          }
        };
        pump();
        return;
      }
      ws.on('message', (data, isBinary) => {
        const text = isBinary ? '' : data.toString();
        const m = /^close:(\d+):(.*)$/.exec(text);
        if (m) { ws.close(Number(m[1]), m[2]); return; }
        const big = /^big:(\d+)$/.exec(text);
        if (big) { ws.send('y'.repeat(Number(big[1]))); return; }
        ws.send(data, { binary: isBinary });
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`, port, seen, closes, floodQueued,
    open: () => wss.clients.size,
    close: () => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); server.closeAllConnections(); server.close(() => r()); }),
  };
}

const wsUrl = (gw: GatewayProcess, path: string) => `ws://127.0.0.1:${gw.port}${path}`;

/** Opens a client; resolves on open or with the refusal's status. */
function connect(url: string, protocols: string[] = [], headers: Record<string, string> = {}): Promise<{ ws: WebSocket; status: 101 } | { status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers });
    ws.on('open', () => resolve({ ws, status: 101 }));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    ws.on('error', reject);
  });
}

async function open(url: string, protocols: string[] = [], headers: Record<string, string> = {}): Promise<WebSocket> {
  const r = await connect(url, protocols, headers);
  if (r.status !== 101) throw new Error(`upgrade refused: ${r.status} ${(r as { body: string }).body}`);
  return (r as { ws: WebSocket }).ws;
}

const nextMessage = (ws: WebSocket) => new Promise<{ data: Buffer; binary: boolean }>((resolve) => ws.once('message', (data: Buffer, binary: boolean) => resolve({ data, binary })));
const closed = (ws: WebSocket, ms = 10_000) => new Promise<{ code: number; reason: string }>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('no close within ' + ms + ' ms')), ms);
  ws.once('close', (code: number, reason: Buffer) => { clearTimeout(timer); resolve({ code, reason: reason.toString() }); });
});
const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return cond();
};

function config(up: WsUpstream, ws: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    upstreams: { chat: { targets: [{ url: up.url }] } },
    consumers: [{ id: 'alice', keys: [{ key: 'key-alice-123456' }] }],
    auth: { keys: { type: 'api-key', header: 'x-api-key' } },
    routes: [
      { name: 'ws', match: { prefix: '/ws' }, upstream: 'chat', stripPrefix: true, websocket: { pingIntervalMs: 0, ...ws } },
      { name: 'small', match: { prefix: '/small' }, upstream: 'chat', stripPrefix: true, websocket: { maxMessageBytes: 1024, maxConnections: 2, messagesPerSecond: 5, pingIntervalMs: 0 } },
      { name: 'idle', match: { prefix: '/idle' }, upstream: 'chat', stripPrefix: true, websocket: { idleTimeoutMs: 1000, pingIntervalMs: 0 } },
      { name: 'keyed', match: { prefix: '/keyed' }, upstream: 'chat', stripPrefix: true, websocket: true, auth: ['keys'] },
      { name: 'plain', match: { prefix: '/plain' }, upstream: 'chat', stripPrefix: true },
    ],
  };
}

for (const engine of ENGINES) {
  t.test(`${engine}: WebSocket proxy`, async (t: Test) => {
    const up = await wsUpstream();
    const gw = await startGatewayProcess({ ...config(up), observability: { metrics: { enabled: true } } }, engine);
    t.teardown(async () => { await gw.stop(); await up.close(); });

    t.test('echo, text and binary, with the upstream\'s subprotocol and the forwarding headers', async (t) => {
      const ws = await open(wsUrl(gw, '/ws/echo?room=1'), ['chat.v1', 'chat.v2'], { 'x-request-id': 'ws-req-1' });
      t.equal(ws.protocol, 'chat.v2', 'the upstream chose chat.v2 and the client got it');
      ws.send('hello');
      const a = await nextMessage(ws);
      t.same([a.data.toString(), a.binary], ['hello', false]);
      ws.send(Buffer.from([0, 1, 2, 255]));
      const b = await nextMessage(ws);
      t.same([[...b.data], b.binary], [[0, 1, 2, 255], true]);
      const s = up.seen.find((x) => x.headers['x-request-id'] === 'ws-req-1')!;
      t.ok(s, 'the upgrade reached the upstream with the request id');
      t.equal(s.path, '/echo?room=1', 'prefix stripped, query kept');
      t.equal(s.headers['x-forwarded-for'], '127.0.0.1');
      const metrics = (await request(`${gw.adminUrl}/metrics`)).body;
      t.match(metrics, /gateway_websocket_connections_open 1\n/, 'one WebSocket open');
      t.match(metrics, /gateway_websocket_messages_total\{route="ws",direction="in"\} 2\n/, 'two messages in');
      t.match(metrics, /gateway_websocket_messages_total\{route="ws",direction="out"\} 2\n/, 'two messages out');
      t.match(metrics, /gateway_websocket_message_bytes_total\{route="ws",direction="in"\} 9\n/, '5 + 4 bytes in');
      t.same(String(s.headers['sec-websocket-protocol']).split(/,\s*/), ['chat.v1', 'chat.v2'], 'the client\'s offers went upstream');
      ws.close(1000);
      await closed(ws);
    });

    t.test('a plain request to a WebSocket route is 426; a WebSocket upgrade to a plain route is plain HTTP', async (t) => {
      const r = await request(`${gw.url}/ws/echo`);
      t.equal(r.status, 426);
      t.equal(r.headers.upgrade, 'websocket');
      const p = await connect(wsUrl(gw, '/plain/echo'));
      t.equal(p.status, 200, 'proxied as a plain GET (Upgrade is hop-by-hop)');
      t.equal((p as { body: string }).body, 'plain');
    });

    t.test('policies run at the upgrade: no API key is a 401 status, not a dropped socket', async (t) => {
      const r = await connect(wsUrl(gw, '/keyed/echo'));
      t.equal(r.status, 401);
      t.match((r as { body: string }).body, /unauthorized/);
      const ws = await open(wsUrl(gw, '/keyed/echo'), [], { 'x-api-key': 'key-alice-123456' });
      ws.send('with key');
      t.equal((await nextMessage(ws)).data.toString(), 'with key');
      ws.close();
    });

    t.test('a malformed subprotocol offer is a 400, not a 500', async (t) => {
      const s = net.connect(gw.port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => { got += d; });
      s.write('GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: chat, chat\r\n\r\n');
      await new Promise((r) => s.once('close', r));
      t.match(got, /^HTTP\/1\.1 400 /);
      t.match(got, /a subprotocol is offered twice/);
    });

    t.test('an upgrade request with a body is refused and never reaches the upstream as a request', async (t) => {
      const before = up.seen.length;
      const s = net.connect(gw.port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => { got += d; });
      s.write('GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: 30\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n');
      await Promise.race([new Promise((r) => s.once('close', r)), new Promise((r) => setTimeout(r, 3000))]);
      s.destroy();
      // node: refused for its body; uWS: it never takes a body on an upgrade and answers the upgrade
      if (engine === 'node') t.match(got, /^HTTP\/1\.1 400 [\s\S]*Upgrade request with a body/);
      t.notOk(up.seen.slice(before).some((x) => x.path === '/smuggled'), 'the body was never run as a request');
      t.equal((await request(`${gw.url}/plain/x`)).status, 200, 'the gateway still answers');
    });

    t.test('the upstream refusing the upgrade: its 4xx passes through, a 5xx is a 502', async (t) => {
      t.equal((await connect(wsUrl(gw, '/ws/refuse'))).status, 403);
      const b = await connect(wsUrl(gw, '/ws/broken'));
      t.equal(b.status, 502);
      t.match((b as { body: string }).body, /websocket_upgrade_refused/);
    });

    t.test('close codes pass through both ways', async (t) => {
      const ws = await open(wsUrl(gw, '/ws/echo'));
      ws.send('close:4001:bye');
      t.same(await closed(ws), { code: 4001, reason: 'bye' }, 'the upstream\'s code and reason reached the client');
      const ws2 = await open(wsUrl(gw, '/ws/echo'));
      const before = up.closes.length;
      ws2.close(4002, 'client-bye');
      await closed(ws2);
      t.ok(await until(() => up.closes.length > before), 'the upstream saw the close');
      t.same(up.closes.at(-1), { code: 4002, reason: 'client-bye' });
    });

    t.test('an upstream that dies closes the client with 1011', async (t) => {
      const ws = await open(wsUrl(gw, '/ws/die'));
      t.equal((await closed(ws)).code, 1011);
    });

    t.test('maxMessageBytes: a bigger client message closes it with 1009', async (t) => {
      const ws = await open(wsUrl(gw, '/small/echo'));
      ws.send('x'.repeat(1000));
      t.equal((await nextMessage(ws)).data.length, 1000, 'under the limit passes');
      ws.send('x'.repeat(2000));
      t.equal((await closed(ws)).code, 1009);
    });

    t.test('maxMessageBytes: a bigger upstream message is refused too (1009 reaches the client)', async (t) => {
      const ws = await open(wsUrl(gw, '/small/echo'));
      ws.send('big:2000');
      t.equal((await closed(ws)).code, 1009);
    });

    t.test(`invalid UTF-8 in a text message ${engine === 'uws' ? 'drops the client (uWS: 1006)' : 'closes the client with 1007'}`, async (t) => {
      const ws = await open(wsUrl(gw, '/ws/echo'));
      const before = up.closes.length;
      ws.send(Buffer.from([0x68, 0xff, 0xfe]), { binary: false });
      t.equal((await closed(ws)).code, engine === 'uws' ? 1006 : 1007);
      t.ok(await until(() => up.closes.length > before));
      t.equal(up.closes.at(-1)!.code, 1001, 'the upstream is told the client went away');
    });

    t.test('a close without a code goes upstream without one', async (t) => {
      const ws = await open(wsUrl(gw, '/ws/echo'));
      const before = up.closes.length;
      ws.close();
      await closed(ws);
      t.ok(await until(() => up.closes.length > before));
      t.equal(up.closes.at(-1)!.code, 1005);
    });

    t.test('messagesPerSecond: a client over its rate is closed with 1008', async (t) => {
      const ws = await open(wsUrl(gw, '/small/echo'));
      for (let i = 0; i < 20; i++) ws.send(`m${i}`);
      t.equal((await closed(ws)).code, 1008);
    });

    t.test('maxConnections: past the cap the upgrade gets 503', async (t) => {
      const a = await open(wsUrl(gw, '/small/echo'));
      const b = await open(wsUrl(gw, '/small/echo'));
      const c = await connect(wsUrl(gw, '/small/echo'));
      t.equal(c.status, 503);
      t.match((c as { body: string }).body, /websocket_connection_limit/);
      a.close(); b.close();
      await Promise.all([closed(a), closed(b)]);
      await new Promise((r) => setTimeout(r, 200)); // the upstream sides close after the clients'
      const d = await open(wsUrl(gw, '/small/echo'));
      t.pass('a slot is free again after closes');
      d.close();
    });

    t.test('idle timeout closes both sides with 1001', async (t) => {
      const ws = await open(wsUrl(gw, '/idle/echo'));
      const started = Date.now();
      const c = await closed(ws, 8000);
      t.equal(c.code, 1001);
      t.ok(Date.now() - started >= 900, 'not before the timeout');
    });

    t.test('a client that does not read while the upstream sends 100 MB: the gateway stops reading the upstream, memory stays bounded', async (t) => {
      const ws = await open(wsUrl(gw, '/ws/flood'));
      ws.pause();
      let got = 0;
      ws.on('message', (d: Buffer, binary: boolean) => { if (binary) got += d.length; });
      const rss0 = gw.rssBytes();
      await new Promise((r) => setTimeout(r, 1500));
      const growth = gw.rssBytes() - rss0;
      t.ok(growth < 32 * 1024 * 1024, `gateway RSS grew ${(growth / 1048576).toFixed(1)} MB while the client did not read`);
      t.ok(up.floodQueued.length > 0, 'the upstream felt the backpressure (its send buffer filled)');
      const done = new Promise<void>((r) => ws.on('message', (d: Buffer, binary: boolean) => { if (!binary && d.toString() === 'done') r(); }));
      ws.resume();
      await done;
      t.equal(got, 100 * 1024 * 1024, 'every byte arrived once the client read');
      ws.close();
    });

    t.test(engine === 'node' ? 'an upstream that does not read: the gateway stops reading the client' : 'an upstream that does not read: the client is closed with 1013 (uWS cannot pause a WebSocket)', async (t) => {
      const ws = await open(wsUrl(gw, '/ws/deaf'));
      const rss0 = gw.rssBytes();
      const chunk = Buffer.alloc(256 * 1024, 1);
      let sent = 0;
      const end = Date.now() + 4000;
      let code: number | null = null;
      ws.once('close', (c: number) => { code = c; });
      while (Date.now() < end && code === null && sent < 200 * 1024 * 1024) {
        if (ws.bufferedAmount < 4 * 1024 * 1024) { ws.send(chunk); sent += chunk.length; } else await new Promise((r) => setTimeout(r, 10));
        if (sent % (8 * 1024 * 1024) === 0) await new Promise((r) => setImmediate(r));
      }
      const growth = gw.rssBytes() - rss0;
      t.ok(growth < 48 * 1024 * 1024, `gateway RSS grew ${(growth / 1048576).toFixed(1)} MB`);
      if (engine === 'node') {
        t.equal(code, null, 'the client stays connected');
        t.ok(ws.bufferedAmount > 0 && sent < 100 * 1024 * 1024, `the client could push only ${(sent / 1048576).toFixed(0)} MB in 4 s (the gateway stopped reading it)`);
        ws.terminate();
      } else {
        if (code === null) await closed(ws);
        t.equal(code, 1013);
      }
    });

    t.test('1,000 clients that vanish: every upstream socket is closed', async (t) => {
      const base = up.open();
      const sockets: WebSocket[] = [];
      for (let i = 0; i < 1000; i += 50) sockets.push(...await Promise.all(Array.from({ length: 50 }, () => open(wsUrl(gw, '/ws/echo')))));
      t.equal(up.open(), base + 1000);
      for (const s of sockets) s.terminate();
      t.ok(await until(() => up.open() === base, 10_000), `upstream sockets left: ${up.open() - base}`);
      const r = await request(`${gw.url}/plain/x`);
      t.equal(r.status, 200, 'the gateway still serves');
    });
  });

  t.test(`${engine}: reload keeps open WebSockets; shutdown sends 1001`, async (t) => {
    const up = await wsUpstream();
    const gw = await startGatewayProcess(config(up), engine);
    t.teardown(async () => { await gw.stop(); await up.close(); });
    const ws = await open(wsUrl(gw, '/ws/echo'));
    const cfg = parse(readFileSync(gw.configFile, 'utf8')) as { routes: Array<{ name: string }> };
    cfg.routes = cfg.routes.filter((r) => r.name !== 'ws');
    writeFileSync(gw.configFile, stringify(cfg));
    gw.proc.kill('SIGHUP');
    t.ok(await until(() => /reloaded|config reloaded/.test(gw.output()), 5000), 'reloaded');
    t.equal((await connect(wsUrl(gw, '/ws/echo'))).status, 404, 'the route is gone for new upgrades');
    ws.send('still here');
    t.equal((await nextMessage(ws)).data.toString(), 'still here', 'the open WebSocket kept its route');
    const c = closed(ws);
    const exit = gw.stop();
    t.equal((await c).code, 1001, 'shutdown tells the client 1001');
    t.equal(await exit, 0);
  });
}

t.test('wss:// upstreams: the certificate is verified against tls.caFile; ws:// targets make WebSocket routes', async (t) => {
  const certs = makeCerts([{ name: 'upstream', san: 'DNS:localhost,IP:127.0.0.1' }]);
  const server = https.createServer({ cert: readFileSync(certs.leaf.upstream!.cert), key: readFileSync(certs.leaf.upstream!.key) });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (d, isBinary) => ws.send(isBinary ? d : `tls: ${d.toString()}`)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const plain = await wsUpstream();
  const gw = await startGatewayProcess({
    upstreams: {
      verified: { targets: [{ url: `wss://127.0.0.1:${port}` }], tls: { caFile: certs.caFile } },
      untrusted: { targets: [{ url: `https://127.0.0.1:${port}` }] },
      plainws: { targets: [{ url: `ws://127.0.0.1:${plain.port}` }] },
    },
    routes: [
      { name: 'verified', match: { path: '/verified' }, upstream: 'verified', rewrite: '/' },
      { name: 'untrusted', match: { path: '/untrusted' }, upstream: 'untrusted', rewrite: '/', websocket: true },
      { name: 'plainws', match: { prefix: '/plain' }, upstream: 'plainws', stripPrefix: true },
    ],
  }, 'uws');
  t.teardown(async () => { await gw.stop(); await plain.close(); wss.close(); server.close(); });
  const ws = await open(wsUrl(gw, '/verified'));
  ws.send('hi');
  t.equal((await nextMessage(ws)).data.toString(), 'tls: hi', 'relayed over wss:// with the CA from tls.caFile');
  ws.close();
  const refused = await connect(wsUrl(gw, '/untrusted'));
  t.equal(refused.status, 502, 'a certificate not signed by a trusted CA: no connection');
  const p = await open(wsUrl(gw, '/plain/echo'));
  p.send('via ws:// target');
  t.equal((await nextMessage(p)).data.toString(), 'via ws:// target', 'a route to a ws:// upstream is a WebSocket route by itself');
  p.close();
});
