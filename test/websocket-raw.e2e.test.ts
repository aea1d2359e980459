// Hostile WebSocket bytes over raw sockets, both engines, at a proxied WebSocket route and at
// a WebSocket ⇄ gRPC bridge route: malformed handshakes are refused with 400 (426 for another
// version) and never upgraded or forwarded; an upgrade with a body is refused and closed;
// broken frames end the socket (node: with the RFC 6455 close code; uWS 20.30 drops the TCP
// connection) and never reach the upstream; fragmented messages are reassembled.
import t from 'tap';
import net from 'node:net';
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { startCatalogServer, PROTO_DIR } from '../src/demo/catalog-service.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const handshake = (path: string, lines: string[] = [], { key = KEY as string | null, version = '13', method = 'GET' } = {}) =>
  `${method} ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: ${version}\r\n${key === null ? '' : `Sec-WebSocket-Key: ${key}\r\n`}${lines.map((l) => `${l}\r\n`).join('')}\r\n`;

/** A client frame (masked unless told otherwise); `len` overrides the length field. */
function frame(opcode: number, payload: string | Buffer, o: { fin?: boolean; mask?: boolean; rsv?: number; len?: number } = {}): Buffer {
  const body = Buffer.from(payload);
  const n = o.len ?? body.length;
  const mask = o.mask ?? true;
  const head = [((o.fin ?? true) ? 0x80 : 0) | (o.rsv ?? 0) | opcode];
  const m = mask ? 0x80 : 0;
  if (n < 126) head.push(m | n);
  else if (n < 65536) head.push(m | 126, n >> 8, n & 255);
  else { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); head.push(m | 127, ...b); }
  if (!mask) return Buffer.concat([Buffer.from(head), body]);
  const key = Buffer.from([0x11, 0x22, 0x33, 0x44]);
  for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!;
  return Buffer.concat([Buffer.from(head), key, body]);
}

interface Answer { status: number; head: string; body: string; frames: Array<{ opcode: number; payload: Buffer }>; closed: boolean }

/** Sends `bytes`; once a 101 arrives, the `after` frames; collects the answer for up to `ms`. */
function exchange(port: number, bytes: string | Buffer, after: Buffer[] = [], ms = 1500): Promise<Answer> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let headEnd = -1;
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (headEnd < 0 && (headEnd = buf.indexOf('\r\n\r\n')) >= 0 && buf.subarray(0, 12).toString() === 'HTTP/1.1 101') for (const f of after) s.write(f);
    });
    s.on('error', () => { /* a reset is a close */ });
    const timer = setTimeout(() => { s.destroy(); done(false); }, ms);
    s.once('close', () => { clearTimeout(timer); done(true); });
    let over = false;
    const done = (closed: boolean) => {
      if (over) return;
      over = true;
      const head = headEnd < 0 ? buf.toString('latin1') : buf.subarray(0, headEnd).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      const frames: Answer['frames'] = [];
      // server frames (unmasked) after a 101
      for (let i = headEnd + 4; status === 101 && i + 2 <= buf.length;) {
        let n = buf[i + 1]! & 127;
        let at = i + 2;
        if (n === 126) { n = buf.readUInt16BE(at); at += 2; } else if (n === 127) { n = Number(buf.readBigUInt64BE(at)); at += 8; }
        frames.push({ opcode: buf[i]! & 15, payload: buf.subarray(at, at + n) });
        i = at + n;
      }
      resolve({ status, head, body: status === 101 || headEnd < 0 ? '' : buf.subarray(headEnd + 4).toString('latin1'), frames, closed });
    };
    s.write(bytes);
  });
}

const closeCode = (a: Answer) => { const c = a.frames.find((f) => f.opcode === 8); return c && c.payload.length >= 2 ? c.payload.readUInt16BE(0) : null; };
const texts = (a: Answer) => a.frames.filter((f) => f.opcode === 1).map((f) => f.payload.toString());

t.test('hostile WebSocket bytes', async (t) => {
  const grpcServer = await startCatalogServer();
  t.teardown(() => grpcServer.close());
  // a ws echo upstream that records what reaches it (handshakes and messages)
  const upstreamSeen: string[] = [];
  const http = createServer((req, res) => { upstreamSeen.push(`http ${req.method} ${req.url}`); res.end('plain'); });
  const wss = new WebSocketServer({ server: http, maxPayload: 1 << 20 });
  wss.on('connection', (w, req) => {
    upstreamSeen.push(`ws ${req.url}`);
    w.on('message', (d, isBinary) => { upstreamSeen.push(`message ${d.toString()}`); w.send(d, { binary: isBinary }); });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => { wss.close(); http.close(); });
  const upPort = (http.address() as net.AddressInfo).port;

  for (const engine of ENGINES) {
    await t.test(`${engine} engine`, async (t) => {
      const gw = await startGatewayProcess({
        upstreams: {
          echo: { targets: [{ url: `http://127.0.0.1:${upPort}` }] },
          catalog: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${grpcServer.port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] } },
        },
        routes: [
          { name: 'proxied', match: { prefix: '/ws' }, upstream: 'echo', websocket: { maxMessageBytes: 4096 } },
          { name: 'plain', match: { prefix: '/plain' }, upstream: 'echo' },
          { name: 'bridge', match: { prefix: '/' }, transcode: { upstream: 'catalog', websocket: { maxMessageBytes: 4096 } } },
        ],
      }, engine);
      t.teardown(() => gw.stop());
      const BRIDGE = '/demo.catalog.v1.Catalog/Discuss';
      const note = JSON.stringify({ text: 'hi', seq: 1 });

      await t.test('another Upgrade (h2c) with a body never runs its body as a request', async (t) => {
        const before = upstreamSeen.length;
        const smuggled = 'GET /plain/smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
        const a = await exchange(gw.port, `POST /plain/h2c HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`, [], 3000);
        // node hands every Upgrade request to its upgrade path, head only: refused there; uWS
        // reads it as a plain POST with its body
        if (engine === 'node') { t.equal(a.status, 400); t.match(a.body, /with a body/); t.ok(a.closed); }
        else t.equal(a.status, 200, 'a plain POST, its body read as a body');
        await new Promise((r) => setTimeout(r, 200));
        t.notOk(upstreamSeen.slice(before).some((x) => x.includes('/smuggled')), 'the body never ran as a request');
      });

      for (const [what, path] of [['proxied route', '/ws/echo'], ['bridge route', BRIDGE]] as const) {
        await t.test(`${what}: malformed handshakes are refused, never upgraded or forwarded`, async (t) => {
          const before = upstreamSeen.length;
          const calls = grpcServer.calls.length;
          const refused: Array<[string, string, number, RegExp]> = [
            ['no key', handshake(path, [], { key: null }), 400, /Sec-WebSocket-Key/],
            ['a key that is not 16 bytes of base64', handshake(path, [], { key: 'abc' }), 400, /Sec-WebSocket-Key/],
            ['two keys', handshake(path, [`Sec-WebSocket-Key: ${KEY}`]), 400, /Sec-WebSocket-Key/],
            ['version 8', handshake(path, [], { version: '8' }), 426, /version 13/],
            ['a subprotocol offered twice', handshake(path, ['Sec-WebSocket-Protocol: chat, chat']), 400, /offered twice/],
            ['a subprotocol that is not a token', handshake(path, ['Sec-WebSocket-Protocol: a/b']), 400, /not a token/],
            ['no Connection: Upgrade', handshake(path).replace('Connection: Upgrade\r\n', 'Connection: keep-alive\r\n'), 400, /Connection: Upgrade/],
          ];
          for (const [name, bytes, status, message] of refused) {
            const a = await exchange(gw.port, bytes, [], 2000);
            t.equal(a.status, status, `${name}: ${status}`);
            t.match(a.body, message, `${name}: says why`);
            if (status === 426) t.match(a.head, /\r\nsec-websocket-version: 13\r\n/i, 'the 426 names the version');
            t.ok(a.closed, `${name}: the connection is closed after the answer`);
          }
          t.same(upstreamSeen.slice(before), [], 'nothing reached the upstream');
          t.equal(grpcServer.calls.length, calls, 'no gRPC call was made');
        });

        await t.test(`${what}: an upgrade with a body is refused and the connection closed; its body never runs`, async (t) => {
          const before = upstreamSeen.length;
          const smuggled = 'GET /ws/smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
          for (const [name, bytes] of [
            ['Content-Length', handshake(path, [`Content-Length: ${smuggled.length}`]) + smuggled],
            ['Transfer-Encoding', handshake(path, ['Transfer-Encoding: chunked']) + `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`],
          ] as const) {
            const a = await exchange(gw.port, bytes, [], 3000);
            t.equal(a.status, 400, `${name}: 400`);
            t.match(a.body, /with a body/);
            t.ok(a.closed, `${name}: the connection is closed`);
          }
          await new Promise((r) => setTimeout(r, 200));
          t.same(upstreamSeen.slice(before), [], 'neither the upgrade nor its body reached the upstream');
        });

        const echoed = what === 'proxied route' ? note : JSON.stringify({ text: 'HI', seq: 1 });
        await t.test(`${what}: fragmented messages are reassembled; pings between fragments are answered`, async (t) => {
          const a = await exchange(gw.port, handshake(path), [frame(1, note.slice(0, 5), { fin: false }), frame(9, 'ping!'), frame(0, note.slice(5, 9), { fin: false }), frame(0, note.slice(9))], 1500);
          t.equal(a.status, 101);
          t.same(texts(a), [echoed], 'one message, whole');
          t.ok(a.frames.some((f) => f.opcode === 10 && f.payload.toString() === 'ping!'), 'the pong carries the ping\'s payload');
          const big = await exchange(gw.port, handshake(path), [frame(1, `{"text":"${'a'.repeat(3000)}`, { fin: false }), frame(0, `${'a'.repeat(3000)}"}`)], 3000);
          t.equal(closeCode(big), 1009, 'fragments past maxMessageBytes: 1009');
        });

        await t.test(`${what}: broken frames end the socket and never reach the upstream`, async (t) => {
          const before = upstreamSeen.length;
          const calls = grpcServer.calls.length;
          const broken: Array<[string, Buffer, number]> = [
            ['a ping longer than 125 bytes', frame(9, 'p'.repeat(126)), 1002],
            ['a reserved opcode', frame(3, 'x'), 1002],
            ['RSV1 without an extension', frame(1, note, { rsv: 0x40 }), 1002],
            ['a continuation with nothing to continue', frame(0, note), 1002],
            ['a 1 TB length', frame(2, '', { len: 2 ** 40 }), 1009],
            ['invalid UTF-8 in a text frame', frame(1, Buffer.from([0x22, 0xc3, 0x28, 0x22])), 1007],
            ['close code 999', frame(8, Buffer.from([0x03, 0xe7])), 1002],
            ['a close frame of 126 bytes', frame(8, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.alloc(124, 'r')])), 1002],
          ];
          for (const [name, f, code] of broken) {
            const a = await exchange(gw.port, handshake(path), [f], 3000);
            t.equal(a.status, 101, `${name}: upgraded first`);
            t.ok(a.closed, `${name}: the socket is closed`);
            // uWS 20.30 drops the TCP connection without a close frame (docs/websocket.md)
            if (engine === 'node') t.equal(closeCode(a), code, `${name}: close ${code}`);
            else t.equal(closeCode(a), null, `${name}: dropped`);
            t.same(texts(a), [], `${name}: no answer`);
          }
          // RFC 6455 §5.1: a server closes on an unmasked client frame (node: 1002); uWS 20.30
          // reads one as masked garbage and waits — either way it goes nowhere
          const unmasked = await exchange(gw.port, handshake(path), [frame(1, note, { mask: false })], 1000);
          if (engine === 'node') t.equal(closeCode(unmasked), 1002, 'an unmasked frame: 1002');
          t.same(texts(unmasked), [], 'an unmasked frame is never answered');
          await new Promise((r) => setTimeout(r, 200));
          t.same(upstreamSeen.slice(before).filter((x) => x.startsWith('message')), [], 'no broken frame reached the upstream as a message');
          t.equal(grpcServer.calls.slice(calls).filter((c) => c.method !== 'Discuss').length, 0, 'no other gRPC call was made');
          // and the gateway serves on
          const ok = await exchange(gw.port, handshake(path), [frame(1, note)], 1500);
          t.same(texts(ok), [echoed], 'a well-formed message afterwards is answered');
        });
      }
    });
  }
});
