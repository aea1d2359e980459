// The WebSocket ⇄ gRPC bridge (transcode.websocket) over real sockets, both engines, against
// the demo grpc-js server: all four method kinds in JSON mode, the status as the close code,
// details as a last frame, cancellation reaching the server, flow control toward a slow
// client, limits, refused upgrades, and the grpc-websockets binary mode with hand-built frames.
import t from 'tap';
import { WebSocket } from 'ws';
import protobuf from 'protobufjs';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { request } from './helpers/client.js';
import { startCatalogServer, PROTO_DIR } from '../src/demo/catalog-service.js';

interface Session { ws: WebSocket; messages: string[]; binary: Buffer[]; closed: Promise<{ code: number; reason: string }>; next(n?: number): Promise<string> }

/** Opens a WebSocket; rejects with the HTTP status when the upgrade is refused. */
function open(url: string, protocols: string[] = [], headers: Record<string, string> = {}): Promise<Session> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers });
    const messages: string[] = [];
    const binary: Buffer[] = [];
    const waiters: Array<() => void> = [];
    let closedResolve!: (v: { code: number; reason: string }) => void;
    const closed = new Promise<{ code: number; reason: string }>((r) => { closedResolve = r; });
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) binary.push(Buffer.from(data)); else messages.push(data.toString());
      for (const w of waiters.splice(0)) w();
    });
    ws.on('close', (code, reason) => { closedResolve({ code, reason: reason.toString() }); for (const w of waiters.splice(0)) w(); });
    ws.on('unexpected-response', (_req, res) => { res.resume(); reject(Object.assign(new Error(`refused ${res.statusCode}`), { status: res.statusCode })); });
    ws.on('error', reject);
    ws.on('open', () => resolve({
      ws, messages, binary, closed,
      // the n-th text message (1-based), once it arrived
      next: async (n = messages.length + 1) => {
        for (let i = 0; i < 200 && messages.length < n && ws.readyState !== WebSocket.CLOSED; i++) await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 50); });
        return messages[n - 1] ?? '';
      },
    }));
  });
}

const until = async (cond: () => boolean, ms = 3000) => { for (let i = 0; i < ms / 20 && !cond(); i++) await new Promise((r) => setTimeout(r, 20)); };

t.test('WebSocket ⇄ gRPC bridge', async (t) => {
  const grpcServer = await startCatalogServer();
  t.teardown(() => grpcServer.close());
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => `${PROTO_DIR}/${target}`;
  await root.load('demo/catalog.proto');
  const Note = root.lookupType('demo.catalog.v1.Note');
  // each engine with the calls in the front thread (the default: messages under 1 KB mapped
  // there), in the pool (inlineWebSocketBelowBytes: 0), and in the front thread with every
  // message of 64 bytes or more mapped in the pool (both paths, interleaved, in one call)
  const modes = [['front thread', undefined], ['pool', 0], ['front thread, 64-byte offload', 64]] as const;
  for (const [engine, [mode, below]] of ENGINES.flatMap((e) => modes.map((m) => [e, m] as const))) {
    await t.test(`${engine} engine, calls in the ${mode}`, async (t) => {
      const gw = await startGatewayProcess({
        transcoding: { inlineWebSocketBelowBytes: below },
        upstreams: { catalog: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${grpcServer.port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] } } },
        routes: [
          { name: 'catalog', match: { headers: { 'x-capped': { present: false } } }, transcode: { upstream: 'catalog', websocket: { maxMessageBytes: 4096, maxConnections: 1000 } } },
          { name: 'capped', match: { headers: { 'x-capped': '1' } }, transcode: { upstream: 'catalog', services: ['demo.catalog.v1.Catalog'], websocket: { maxConnections: 1, idleTimeoutMs: 1000 } } },
        ],
      }, engine);
      t.teardown(() => gw.stop());
      const ws = (p: string) => `${gw.url.replace(/^http/, 'ws')}${p}`;

      await t.test('bidi: each note answered while the socket stays open; an empty frame half-closes', async (t) => {
        const s = await open(ws('/v1/notes:discuss'));
        s.ws.send(JSON.stringify({ text: 'first', seq: 1 }));
        t.same(JSON.parse(await s.next(1)), { text: 'FIRST', seq: 1 }, 'the answer came before the second note was sent');
        s.ws.send(JSON.stringify({ text: 'second', seq: 2 }));
        t.same(JSON.parse(await s.next(2)), { text: 'SECOND', seq: 2 });
        const metrics = (await request(`${gw.adminUrl}/metrics`)).body;
        t.match(metrics, /gateway_websocket_connections_open 1\n/, 'one WebSocket open');
        t.match(metrics, /gateway_websocket_connections_total\{route="catalog"\} 1\n/, 'counted under the route');
        t.match(metrics, /gateway_websocket_messages_total\{route="catalog",direction="in"\} 2\n/, 'two messages in');
        t.match(metrics, /gateway_websocket_messages_total\{route="catalog",direction="out"\} 2\n/, 'two messages out');
        s.ws.send('');
        t.same(await s.closed, { code: 1000, reason: '' }, 'OK closes with 1000');
      });

      await t.test('small and large notes sent at once are answered in order, all of them before the 1000 close', async (t) => {
        const s = await open(ws('/v1/notes:discuss'));
        const sent = Array.from({ length: 60 }, (_, i) => ({ text: i % 3 === 0 ? `long ${i} ${'é'.repeat(100)}` : `n${i}`, seq: i + 1 }));
        for (const n of sent) s.ws.send(JSON.stringify(n));
        s.ws.send('');
        t.same(await s.closed, { code: 1000, reason: '' });
        t.same(s.messages.map((m) => JSON.parse(m) as unknown), sent.map((n) => ({ text: n.text.toUpperCase(), seq: n.seq })), 'every answer, in the order sent');
        // the 20 long notes (≥ 200 bytes each way) and no short one went to the pool in the 64-byte mode only
        const metrics = (await request(`${gw.adminUrl}/metrics`)).body;
        const offloaded = (way: string) => Number(new RegExp(`gateway_transcoding_offloaded_messages_total\\{method="demo.catalog.v1.Catalog/Discuss",direction="${way}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
        t.same([offloaded('in'), offloaded('out')], below === 64 ? [20, 20] : [0, 0], 'messages mapped in the pool');
        // a large message that does not map: the same 4003 as a small one, wherever it was mapped
        const bad = await open(ws('/v1/notes:discuss'));
        bad.ws.send(JSON.stringify({ text: 'before', seq: 1 }));
        bad.ws.send(`{"seq": 2, "text": 5${' '.repeat(100)}}`);
        t.match(await bad.closed, { code: 4003, reason: /text: expected a string/ });
      });

      await t.test('unary at its gRPC path; a status is a 4000 + code close, details a last frame', async (t) => {
        const ok = await open(ws('/demo.catalog.v1.Catalog/GetBook'));
        ok.ws.send(JSON.stringify({ name: 'shelves/1/books/1' }));
        t.match(JSON.parse(await ok.next(1)), { name: 'shelves/1/books/1' });
        t.equal((await ok.closed).code, 1000, 'one request message: the request half-closed by itself');
        const missing = await open(ws('/demo.catalog.v1.Catalog/GetBook'));
        missing.ws.send(JSON.stringify({ name: 'shelves/1/books/missing' }));
        t.same(await missing.closed, { code: 4005, reason: 'book "shelves/1/books/missing" not found' }, 'NOT_FOUND → 4005');
        t.same(missing.messages, [], 'no details: no error frame');
        const detailed = await open(ws('/demo.catalog.v1.Catalog/GetBook'));
        detailed.ws.send(JSON.stringify({ name: 'shelves/1/books/error-9' }));
        const closed = await detailed.closed;
        t.equal(closed.code, 4009, 'FAILED_PRECONDITION → 4009');
        const last = JSON.parse(detailed.messages.at(-1)!) as { error: { code: number; message: string; details: unknown[] } };
        t.equal(last.error.code, 9);
        t.ok(last.error.details.length > 0, 'google.rpc.Status details as the last JSON frame');
        const two = await open(ws('/demo.catalog.v1.Catalog/GetBook'));
        two.ws.send(JSON.stringify({ name: 'shelves/1/books/slow' }));
        two.ws.send(JSON.stringify({ name: 'shelves/1/books/2' }));
        t.match(await two.closed, { code: 4003, reason: /one request message/ }, 'a second message to a unary method');
      });

      await t.test('server streaming at its HTTP binding path (path variables apply)', async (t) => {
        const s = await open(ws('/v1/shelves/fiction:watch'));
        s.ws.send(JSON.stringify({ pageSize: 4 }));
        t.equal((await s.closed).code, 1000);
        t.equal(s.messages.length, 4, 'one text frame per message');
        t.equal((grpcServer.calls.filter((c) => c.method === 'WatchShelf').at(-1)?.request as { shelf?: string } | undefined)?.shelf, 'fiction');
        const broken = await open(ws('/v1/shelves/broken:watch'));
        broken.ws.send('{}');
        t.match(await broken.closed, { code: 4013, reason: 'the shelf broke' }, 'a stream that fails midway: INTERNAL → 4013 after two messages');
        t.equal(broken.messages.length, 2);
      });

      await t.test('client streaming: messages until the empty frame, then the one answer', async (t) => {
        const s = await open(ws('/v1/books:import'));
        for (let i = 0; i < 10; i++) s.ws.send(JSON.stringify({ title: `Book ${i}`, pages: i }));
        s.ws.send('');
        t.same(JSON.parse(await s.next(1)), { count: 10, pages: '45', firstTitle: 'Book 0', lastTitle: 'Book 9' });
        t.equal((await s.closed).code, 1000);
      });

      await t.test('bad messages: a JSON error is 4003 and cancels the call; binary frames in JSON mode 1003; too large 1009', async (t) => {
        const cancelled = grpcServer.cancelled;
        const s = await open(ws('/v1/notes:discuss'));
        s.ws.send('{"text": 5}');
        t.match(await s.closed, { code: 4003, reason: /text: expected a string/ });
        await until(() => grpcServer.cancelled > cancelled);
        t.ok(grpcServer.cancelled > cancelled, 'the server saw the call cancelled');
        const b = await open(ws('/v1/notes:discuss'));
        b.ws.send(Buffer.from([1, 2, 3]));
        t.equal((await b.closed).code, 1003);
        const big = await open(ws('/v1/notes:discuss'));
        big.ws.send(JSON.stringify({ text: 'x'.repeat(5000) }));
        t.equal((await big.closed).code, 1009, 'over maxMessageBytes');
      });

      await t.test('a grpc-timeout query parameter is the deadline (not sent as a field)', async (t) => {
        const started = Date.now();
        const s = await open(ws('/v1/notes:discuss?grpc-timeout=300m'));
        s.ws.send(JSON.stringify({ text: 'quick' }));
        t.same(JSON.parse(await s.next(1)), { text: 'QUICK' }, 'the parameter did not reach the message mapping');
        t.match(await s.closed, { code: 4004 }, 'DEADLINE_EXCEEDED → 4004 once 300 ms passed');
        t.ok(Date.now() - started < 3000, `closed after ${Date.now() - started} ms`);
      });

      await t.test('a client that closes cancels the call upstream', async (t) => {
        const cancelled = grpcServer.cancelled;
        const s = await open(ws('/v1/notes:discuss'));
        s.ws.send(JSON.stringify({ text: 'hello' }));
        await s.next(1);
        s.ws.close(1000, 'bye');
        await until(() => grpcServer.cancelled > cancelled);
        t.ok(grpcServer.cancelled > cancelled, 'the server saw CANCELLED');
        const dropped = await open(ws('/v1/notes:discuss'));
        dropped.ws.send(JSON.stringify({ text: 'hello' }));
        await dropped.next(1);
        dropped.ws.terminate();
        await until(() => grpcServer.cancelled > cancelled + 1);
        t.ok(grpcServer.cancelled > cancelled + 1, 'a dropped connection too');
      });

      await t.test('flow control: a client that does not read stalls the server stream', async (t) => {
        const before = grpcServer.streamed;
        const s = await open(ws('/v1/shelves/fast:watch'));
        (s.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
        s.ws.send(JSON.stringify({ pageSize: 1_000_000 }));
        await new Promise((r) => setTimeout(r, 1500));
        const sent = grpcServer.streamed - before;
        t.ok(sent > 0 && sent < 200_000, `the server sent ${sent} of 1,000,000 messages while the client read nothing`);
        await new Promise((r) => setTimeout(r, 500));
        t.ok(grpcServer.streamed - before < sent + 20_000, 'and it stays stalled');
        s.ws.terminate();
      });

      await t.test('flow control: a server that stops reading stops the gateway reading the client', async (t) => {
        const s = await open(ws('/v1/books:import'));
        s.ws.send(JSON.stringify({ title: 'slow' })); // the server stops reading for 1.5 s
        const book = JSON.stringify({ title: 'b', pages: 1, tags: ['x'.repeat(3900)] });
        const n = 7500; // 30 MB
        for (let i = 0; i < n; i++) s.ws.send(book);
        s.ws.send('');
        await new Promise((r) => setTimeout(r, 700));
        if (engine === 'node') {
          t.ok(s.ws.bufferedAmount > 10 * 1024 * 1024, `the client could not send: ${(s.ws.bufferedAmount / 1048576).toFixed(1)} MB still queued in it`);
          t.same(JSON.parse(await s.next(1)), { count: n + 1, pages: String(n), firstTitle: 'slow', lastTitle: 'b' }, 'every message arrived once the server read again');
          t.equal((await s.closed).code, 1000);
        } else {
          // uWS 20.30 cannot pause a WebSocket: past a hard bound the client is closed
          t.match(await s.closed, { code: 1013, reason: 'the upstream is not keeping up' });
        }
      });

      await t.test('refused upgrades are HTTP statuses', async (t) => {
        await t.rejects(open(ws('/v1/nothing-here')), { message: 'refused 404' }, 'no method at the path');
        const capped = { 'x-capped': '1' };
        const first = await open(ws('/demo.catalog.v1.Catalog/Discuss'), [], capped);
        await t.rejects(open(ws('/demo.catalog.v1.Catalog/Discuss'), [], capped), { message: 'refused 503' }, 'the route\'s maxConnections');
        const started = Date.now();
        t.same(await first.closed, { code: 1001, reason: 'idle timeout' }, 'idleTimeoutMs: nothing either way closes with 1001');
        t.ok(Date.now() - started < 3000);
      });

      await t.test('grpc-websockets binary mode (improbable-eng framing)', async (t) => {
        const s = await open(ws('/demo.catalog.v1.Catalog/Discuss'), ['grpc-websockets']);
        t.equal(s.ws.protocol, 'grpc-websockets', 'the subprotocol is chosen');
        s.ws.send(Buffer.from('x-request-id: bridge-binary\r\nauthorization: Bearer abc\r\n', 'latin1'));
        const body = Note.encode(Note.create({ text: 'bin', seq: 7 })).finish();
        const frame = Buffer.alloc(6 + body.length);
        frame[0] = 0; // data
        frame[1] = 0; // gRPC frame: not compressed
        frame.writeUInt32BE(body.length, 2);
        frame.set(body, 6);
        // split in two WebSocket messages: frames may span them
        s.ws.send(frame.subarray(0, 4));
        s.ws.send(Buffer.concat([Buffer.from([0]), frame.subarray(4)]));
        s.ws.send(Buffer.from([1])); // finish send
        t.equal((await s.closed).code, 1000);
        t.equal(s.binary.length, 3, 'header frame, message, trailers frame');
        t.equal(s.binary[0]![0], 0x80);
        t.match(s.binary[0]!.subarray(5).toString(), /content-type: application\/grpc-web\+proto\r\n/);
        t.equal(s.binary[1]![0], 0);
        t.same(Note.toObject(Note.decode(s.binary[1]!.subarray(5))), { text: 'BIN', seq: 7 });
        t.equal(s.binary[2]![0], 0x80);
        t.match(s.binary[2]!.subarray(5).toString(), /grpc-status: 0\r\n/);
        const md = grpcServer.calls.filter((c) => c.method === 'Discuss').at(-1)?.metadata;
        t.equal(md?.authorization, 'Bearer abc', 'header-frame metadata reached the server');
        t.not(md?.['x-request-id'], 'bridge-binary', 'the gateway\'s own x-request-id is not replaced by the header frame');
        const bad = await open(ws('/demo.catalog.v1.Catalog/Discuss'), ['grpc-websockets']);
        bad.ws.send(Buffer.from('x-ok: 1\r\nbad header\r\n'));
        t.equal((await bad.closed).code, 1002, 'a malformed header frame');
        const missing = await open(ws('/demo.catalog.v1.Catalog/GetBook'), ['grpc-websockets']);
        missing.ws.send(Buffer.from(''));
        const req = root.lookupType('demo.catalog.v1.GetBookRequest');
        const m = req.encode({ name: 'shelves/1/books/missing' }).finish();
        const f = Buffer.alloc(6 + m.length);
        f.writeUInt32BE(m.length, 2);
        f.set(m, 6);
        missing.ws.send(f);
        t.equal((await missing.closed).code, 1000);
        t.match(missing.binary.at(-1)!.subarray(5).toString(), /grpc-status: 5\r\ngrpc-message: book /, 'the status in the trailers frame');
      });

      await t.test('300 clients that vanish mid-call: every call is cancelled upstream', async (t) => {
        const cancelled = grpcServer.cancelled;
        const sockets: Session[] = [];
        for (let i = 0; i < 300; i += 50) sockets.push(...await Promise.all(Array.from({ length: 50 }, () => open(ws('/v1/notes:discuss')))));
        for (const s of sockets) s.ws.send(JSON.stringify({ text: 'x' }));
        await Promise.all(sockets.map((s) => s.next(1)));
        for (const s of sockets) s.ws.terminate();
        await until(() => grpcServer.cancelled >= cancelled + 300, 10_000);
        t.equal(grpcServer.cancelled - cancelled, 300, 'the server saw each of them cancelled');
        const after = await open(ws('/v1/notes:discuss'));
        after.ws.send(JSON.stringify({ text: 'still' }));
        t.same(JSON.parse(await after.next(1)), { text: 'STILL' }, 'the gateway still bridges');
        after.ws.close();
      });

      await t.test('grpc-websockets: server and client streaming, and a close that cancels', async (t) => {
        const framed = (type: string, value: Record<string, unknown>) => {
          const T = root.lookupType(type);
          const m = T.encode(T.fromObject(value)).finish();
          const f = Buffer.alloc(6 + m.length);
          f.writeUInt32BE(m.length, 2);
          f.set(m, 6);
          return f;
        };
        const watch = await open(ws('/demo.catalog.v1.Catalog/WatchShelf'), ['grpc-websockets']);
        watch.ws.send(Buffer.from(''));
        watch.ws.send(framed('demo.catalog.v1.ListBooksRequest', { shelf: 'fiction', page_size: 3 }));
        t.equal((await watch.closed).code, 1000);
        t.same(watch.binary.map((b) => b[0]), [0x80, 0, 0, 0, 0x80], 'header frame, three messages, trailers');
        const imp = await open(ws('/demo.catalog.v1.Catalog/ImportBooks'), ['grpc-websockets']);
        imp.ws.send(Buffer.from(''));
        for (let i = 0; i < 5; i++) imp.ws.send(framed('demo.catalog.v1.Book', { title: `t${i}`, pages: 2 }));
        imp.ws.send(Buffer.from([1]));
        t.equal((await imp.closed).code, 1000);
        const Summary = root.lookupType('demo.catalog.v1.ImportSummary');
        t.same(Summary.toObject(Summary.decode(imp.binary[1]!.subarray(5)), { longs: String }), { count: 5, pages: '10', firstTitle: 't0', lastTitle: 't4' });
        const cancelled = grpcServer.cancelled;
        const talk = await open(ws('/demo.catalog.v1.Catalog/Discuss'), ['grpc-websockets']);
        talk.ws.send(Buffer.from(''));
        talk.ws.send(framed('demo.catalog.v1.Note', { text: 'a' }));
        await until(() => talk.binary.length >= 2);
        talk.ws.close(1000);
        await until(() => grpcServer.cancelled > cancelled);
        t.ok(grpcServer.cancelled > cancelled, 'closing the socket cancelled the call');
      });

      await t.test('a reload leaves an open bridged call running; shutdown closes it with 1001', async (t) => {
        const s = await open(ws('/v1/notes:discuss'));
        const cfg = parse(readFileSync(gw.configFile, 'utf8')) as { routes: Array<{ name: string }> };
        cfg.routes = cfg.routes.filter((r) => r.name !== 'capped');
        writeFileSync(gw.configFile, stringify(cfg));
        gw.proc.kill('SIGHUP');
        await until(() => /reloaded/.test(gw.output()), 5000);
        t.match(gw.output(), /reloaded/, 'reloaded');
        s.ws.send(JSON.stringify({ text: 'after reload' }));
        t.same(JSON.parse(await s.next(1)), { text: 'AFTER RELOAD' }, 'the open call still answers');
        const exit = gw.stop();
        t.equal((await s.closed).code, 1001, 'shutdown tells the client 1001');
        t.equal(await exit, 0);
      });
    });
  }

  await t.test('two front threads: a front thread maps its large messages in the process\'s one pool (through the main thread)', async (t) => {
    const gw = await startGatewayProcess({
      threads: 2,
      transcoding: { inlineWebSocketBelowBytes: 64 },
      upstreams: { catalog: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${grpcServer.port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] } } },
      routes: [{ name: 'catalog', transcode: { upstream: 'catalog', websocket: true } }],
    }, 'uws');
    t.teardown(() => gw.stop());
    const sent = Array.from({ length: 30 }, (_, i) => ({ text: i % 2 ? `n${i}` : `long ${i} ${'x'.repeat(100)}`, seq: i + 1 }));
    // several sockets: the two threads both take some
    const sessions = await Promise.all(Array.from({ length: 4 }, () => open(`${gw.url.replace(/^http/, 'ws')}/v1/notes:discuss`)));
    for (const s of sessions) { for (const n of sent) s.ws.send(JSON.stringify(n)); s.ws.send(''); }
    for (const s of sessions) {
      t.same(await s.closed, { code: 1000, reason: '' });
      t.same(s.messages.map((m) => JSON.parse(m) as unknown), sent.map((n) => ({ text: n.text.toUpperCase(), seq: n.seq })), 'every answer, in order');
    }
    const metrics = (await request(`${gw.adminUrl}/metrics`)).body;
    t.match(metrics, /gateway_transcoding_offloaded_messages_total\{method="demo.catalog.v1.Catalog\/Discuss",direction="in"\} 60\n/, '15 long notes a socket went to the pool');
    t.match(metrics, /gateway_transcoding_offloaded_messages_total\{method="demo.catalog.v1.Catalog\/Discuss",direction="out"\} 60\n/, 'and their answers');
  });
});
