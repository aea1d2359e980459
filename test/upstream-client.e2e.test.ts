// The gateway's own HTTP/1.1 upstream client against awkward but legal (and some illegal)
// upstream behaviour, through the real gateway on both engines.
import t from 'tap';
import net from 'node:net';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { request } from './helpers/client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw TCP upstream answering each request with `reply(requestText)`. */
async function rawUpstream(reply: (req: string, sock: net.Socket) => void): Promise<{ port: number; close(): void }> {
  const server = net.createServer((sock) => {
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        const req = buf.slice(0, end + 4);
        buf = buf.slice(end + 4);
        reply(req, sock);
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

for (const engine of ENGINES) {
  t.test(`${engine} engine`, async (t) => {
    // An upstream that closes idle keep-alive connections after 50 ms.
    let connections = 0;
    const idleTimers = new WeakMap<net.Socket, NodeJS.Timeout>();
    const seenSockets = new WeakSet<net.Socket>();
    const shortKeepAlive = await rawUpstream((req, sock) => {
      if (!seenSockets.has(sock)) { seenSockets.add(sock); connections++; }
      clearTimeout(idleTimers.get(sock));
      const path = req.split(' ')[1];
      sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${3 + path!.length}\r\n\r\nok ${path}`);
      idleTimers.set(sock, setTimeout(() => sock.end(), 50));
    });

    const closer = await rawUpstream((_req, sock) => { sock.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nclose'); });
    const eof = await rawUpstream((_req, sock) => { sock.end('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until close'); });
    const informational = await rawUpstream((_req, sock) => { sock.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal'); });
    const garbage = await rawUpstream((_req, sock) => { sock.write('NOT HTTP AT ALL\r\n\r\n'); });
    const manyHeaders = await rawUpstream((_req, sock) => {
      const h = Array.from({ length: 60 }, (_, i) => `X-H${i}: v${i}\r\n`).join('');
      sock.write(`HTTP/1.1 200 OK\r\n${h}Content-Length: 2\r\n\r\nok`);
    });
    const truncated = await rawUpstream((_req, sock) => { sock.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this'); });

    const gw = await startGatewayProcess({
      upstreams: {
        ka: { targets: [{ url: `http://127.0.0.1:${shortKeepAlive.port}` }] },
        closer: { targets: [{ url: `http://127.0.0.1:${closer.port}` }] },
        eof: { targets: [{ url: `http://127.0.0.1:${eof.port}` }] },
        info: { targets: [{ url: `http://127.0.0.1:${informational.port}` }] },
        garbage: { targets: [{ url: `http://127.0.0.1:${garbage.port}` }] },
        many: { targets: [{ url: `http://127.0.0.1:${manyHeaders.port}` }] },
        truncated: { targets: [{ url: `http://127.0.0.1:${truncated.port}` }] },
      },
      routes: ['ka', 'closer', 'eof', 'info', 'garbage', 'many', 'truncated'].map((u) => ({ match: { prefix: `/${u}` }, upstream: u, stripPrefix: true })),
    }, engine);
    t.teardown(async () => { await gw.stop(); shortKeepAlive.close(); for (const u of [closer, eof, informational, garbage, manyHeaders, truncated]) u.close(); });

    await t.test('idle connections closed by the upstream are not used for new requests', async (t) => {
      for (let i = 0; i < 20; i++) {
        const r = await request(`${gw.url}/ka/${i}`);
        t.equal(r.status, 200, `request ${i}`);
        t.equal(r.body, `ok /${i}`);
        await sleep(i % 2 ? 70 : 45); // around the upstream's 50 ms keep-alive timeout
      }
      t.ok(connections > 1, `the gateway opened new connections (${connections}) as the upstream closed idle ones`);
    });

    await t.test('Connection: close from the upstream, and bodies delimited by close', async (t) => {
      for (let i = 0; i < 3; i++) t.equal((await request(`${gw.url}/closer`)).body, 'close');
      const r = await request(`${gw.url}/eof`);
      t.equal(r.status, 200);
      t.equal(r.body, 'body until close');
    });

    await t.test('1xx responses are skipped, many response headers all arrive', async (t) => {
      const r = await request(`${gw.url}/info`);
      t.equal(r.status, 200);
      t.equal(r.body, 'final');
      const m = await request(`${gw.url}/many`);
      t.equal(m.headers['x-h0'], 'v0');
      t.equal(m.headers['x-h59'], 'v59');
    });

    await t.test('an invalid upstream response is a 502; a truncated one cuts the client', async (t) => {
      const r = await request(`${gw.url}/garbage`);
      t.equal(r.status, 502);
      t.equal(r.json.error.code, 'upstream_bad_response');
      await t.rejects(request(`${gw.url}/truncated`), 'the client does not receive a short body as complete');
    });
  });
}
