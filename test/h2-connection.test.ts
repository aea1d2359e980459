// The gateway's own HTTP/2 client (src/h2) against a real peer (node:http2's server, i.e.
// nghttp2) and against raw sockets that send what a broken or hostile server would.
import t from 'tap';
import http2 from 'node:http2';
import net from 'node:net';
import fc from 'fast-check';
import { H2Connection, H2_CANCEL, H2_COMPRESSION_ERROR, H2_FLOW_CONTROL_ERROR, H2_FRAME_SIZE_ERROR, H2_PROTOCOL_ERROR, type StreamHandlers } from '../src/h2/connection.js';
import { HpackDecoder, encodeHeaders } from '../src/h2/hpack.js';
import { huffmanDecode, huffmanEncode, huffmanLength } from '../src/h2/huffman.js';

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');

t.test('HPACK', async (t) => {
  t.test('RFC 7541 C.4: three requests with Huffman strings and the dynamic table', async (t) => {
    const d = new HpackDecoder();
    t.same(d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff')), [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']]);
    t.same(d.decode(hex('8286 84be 5886 a8eb 1064 9cbf')), [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']]);
    t.same(d.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf')), [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']]);
  });

  t.test('the dynamic table evicts to its size and follows size updates', async (t) => {
    const d = new HpackDecoder(100);
    // literal with incremental indexing, new name: 'aaaa' → 'x'×40 (4 + 40 + 32 = 76 octets)
    const add = (name: string, value: string) => Buffer.concat([Buffer.from([0x40, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
    t.same(d.decode(add('aaaa', 'x'.repeat(40))), [['aaaa', 'x'.repeat(40)]]);
    t.same(d.decode(hex('be')), [['aaaa', 'x'.repeat(40)]], 'index 62 is the newest entry');
    d.decode(add('bbbb', 'y'.repeat(40))); // 76 + 76 > 100: the first is evicted
    t.same(d.decode(hex('be')), [['bbbb', 'y'.repeat(40)]]);
    t.throws(() => d.decode(hex('bf')), { name: 'HpackError' }, 'the evicted entry is gone');
    t.same(d.decode(hex('20')), [], 'a size update to 0 empties the table');
    t.throws(() => d.decode(hex('be')), { name: 'HpackError' });
    t.throws(() => d.decode(hex('3f 46')), /over the advertised size/, 'a size update over SETTINGS_HEADER_TABLE_SIZE');
    t.throws(() => d.decode(hex('82 20')), /after a field/, 'a size update after a field');
  });

  t.test('malformed blocks are errors, not crashes', async (t) => {
    const d = new HpackDecoder();
    for (const [what, b] of [['index 0', '80'], ['index past the table', 'ff 00'], ['a truncated integer', 'ff'], ['a truncated string', '04 05 61'], ['an integer past 2^28', '0f ff ff ff ff ff'], ['Huffman with EOS inside', '00 81 61 84 ff ff ff ff'], ['Huffman padding that is not ones', '00 81 61 81 00']] as const) {
      t.throws(() => d.decode(hex(b)), { name: 'HpackError' }, what);
    }
    const list = new HpackDecoder(4096, 100);
    // 'a' with incremental indexing (93 octets), then :method GET (42): 135 > 100
    const indexed = Buffer.concat([Buffer.from([0x40, 1]), Buffer.from('a'), Buffer.from([60]), Buffer.from('x'.repeat(60)), Buffer.from([0x82])]);
    t.equal(list.decode(indexed), null, 'a list over maxListBytes: null (that stream fails)');
    t.same(list.decode(hex('be')), [['a', 'x'.repeat(60)]], 'but the block was decoded to its end: the table stays in step');
  });

  t.test('Huffman: every byte value round-trips (fast-check)', async (t) => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const s = Buffer.from(bytes).toString('latin1');
      const out = new Uint8Array(huffmanLength(s));
      const end = huffmanEncode(s, out, 0);
      return end === out.length && huffmanDecode(out, 0, end) === s;
    }), { numRuns: 3000 });
    t.pass('3000 random strings');
  });

  t.test('encodeHeaders ↔ decode round-trip (fast-check)', async (t) => {
    const name = fc.stringMatching(/^[a-z0-9-]{1,20}$/);
    const value = fc.uint8Array({ maxLength: 100 }).map((b) => Buffer.from(b).toString('latin1'));
    const staticish = fc.constantFrom<[string, string]>([':method', 'POST'], [':path', '/'], ['content-type', 'application/grpc'], ['te', 'trailers'], ['user-agent', 'x'], ['accept-encoding', 'gzip, deflate']);
    fc.assert(fc.property(fc.array(fc.oneof(fc.tuple(name, value), staticish), { maxLength: 30 }), (fields) => {
      return JSON.stringify(new HpackDecoder().decode(encodeHeaders(fields))) === JSON.stringify(fields);
    }), { numRuns: 2000 });
    t.pass('2000 random header lists');
  });
});

interface Answer { headers: Array<[string, string]>[]; data: Buffer[]; how: string; code: number }
/** a stream's events, collected; `done` resolves on onClose */
function collect(): { h: StreamHandlers; done: Promise<Answer>; drains: number; answer: Answer } {
  const a: Answer = { headers: [], data: [], how: '', code: -1 };
  let resolve!: (a: Answer) => void;
  const done = new Promise<Answer>((r) => { resolve = r; });
  const c = {
    drains: 0,
    done,
    answer: a,
    h: {
      onHeaders: (f: Array<[string, string]>) => { a.headers.push(f); },
      onData: (d: Buffer) => { a.data.push(Buffer.from(d)); },
      onClose: (how: string, code: number) => { a.how = how; a.code = code; resolve(a); },
      onDrain: () => { c.drains++; },
    } as StreamHandlers,
  };
  return c;
}

async function connect(port: number, events: { ready?: () => void; goaway?: () => void; close?: () => void } = {}, window = 1 << 20): Promise<H2Connection> {
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  let ready!: () => void;
  const isReady = new Promise<void>((r) => { ready = r; });
  const c = new H2Connection(socket, { streamWindow: window, connectionWindow: 16 << 20, maxHeaderListBytes: 128 * 1024, onReady: () => { events.ready?.(); ready(); }, onGoaway: () => events.goaway?.(), onClose: () => events.close?.() });
  await isReady;
  return c;
}
const get = (path: string, extra: Array<[string, string]> = []): Array<[string, string]> => [[':method', 'GET'], [':scheme', 'http'], [':authority', '127.0.0.1'], [':path', path], ...extra];
const field = (fields: Array<[string, string]> | undefined, name: string) => fields?.find(([k]) => k === name)?.[1];

t.test('against node:http2 (nghttp2)', async (t) => {
  const server = http2.createServer({ settings: { maxConcurrentStreams: 3 } });
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (x) => { sessions.add(x); x.on('close', () => sessions.delete(x)); });
  server.on('connection', (s: net.Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  let concurrent = 0, peak = 0;
  server.on('stream', (s, h) => {
    const path = String(h[':path']);
    s.on('error', () => {});
    if (path.startsWith('/headers/')) {
      // values nghttp2 indexes (and evicts) in its dynamic table as the calls go by
      const n = Number(path.split('/')[2]);
      const out: http2.OutgoingHttpHeaders = { ':status': 200, 'x-n': String(n), 'x-same': 'constant value', 'x-big': `${'v'.repeat(n % 7 === 0 ? 3000 : 10)}-${n}` };
      s.respond(out, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'x-trailer': `t${n}` }));
      s.end('ok');
    } else if (path === '/continuation') {
      s.respond({ ':status': 200, 'x-huge': 'h'.repeat(40_000) });
      s.end();
    } else if (path === '/big') {
      s.respond({ ':status': 200 });
      s.end(Buffer.alloc(5 << 20, 7));
    } else if (path === '/upload') {
      let n = 0;
      s.on('data', (d: Buffer) => { n += d.length; });
      s.on('end', () => { s.respond({ ':status': 200, 'x-received': String(n) }); s.end(); });
    } else if (path === '/slow') {
      concurrent++; peak = Math.max(peak, concurrent);
      setTimeout(() => { concurrent--; s.respond({ ':status': 200 }); s.end(); }, 30);
    } else if (path === '/reset') {
      s.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    } else if (path === '/stream') {
      s.respond({ ':status': 200 });
      let sent = 0;
      const more = () => { while (sent < 3 << 20) { sent += 16384; if (!s.write(Buffer.alloc(16384, 1))) { s.once('drain', more); return; } } s.end(); };
      more();
      streaming = () => sent;
    } else if (path === '/hang') {
      // never answers
    } else {
      s.respond({ ':status': 404 });
      s.end();
    }
  });
  let streaming = () => 0;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close(); });

  t.test('header blocks decode through nghttp2\'s dynamic table, call after call', async (t) => {
    const c = await connect(port);
    for (let n = 0; n < 120; n++) {
      const a = collect();
      c.request(get(`/headers/${n}`), a.h, true);
      const r = await a.done;
      if (r.how !== 'end' || field(r.headers[0], 'x-n') !== String(n) || field(r.headers[0], 'x-big') !== `${'v'.repeat(n % 7 === 0 ? 3000 : 10)}-${n}` || field(r.headers[1], 'x-trailer') !== `t${n}` || Buffer.concat(r.data).toString() !== 'ok') {
        t.fail(`call ${n}: ${JSON.stringify(r)}`);
        return;
      }
    }
    t.pass('120 calls, each with its own headers and trailers');
    c.close();
  });

  t.test('a 40 KB header block arrives over CONTINUATION frames', async (t) => {
    const c = await connect(port);
    const a = collect();
    c.request(get('/continuation'), a.h, true);
    const r = await a.done;
    t.equal(field(r.headers[0], 'x-huge'), 'h'.repeat(40_000));
    c.close();
  });

  t.test('flow control: a 5 MB answer through 1 MB windows, a 5 MB request into the server\'s 64 KB window', async (t) => {
    const c = await connect(port);
    const a = collect();
    c.request(get('/big'), a.h, true);
    const r = await a.done;
    t.equal(Buffer.concat(r.data).length, 5 << 20);
    const up = collect();
    const s = c.request([[':method', 'POST'], [':scheme', 'http'], [':authority', '127.0.0.1'], [':path', '/upload']], up.h)!;
    let buffered = 0;
    for (let i = 0; i < 80; i++) if (!s.write(Buffer.alloc(65536, 2))) buffered++;
    s.end();
    const u = await up.done;
    t.equal(field(u.headers[0], 'x-received'), String(80 * 65536));
    t.ok(buffered > 0 && up.drains > 0, `write() answered false ${buffered} times and drain followed`);
    c.close();
  });

  t.test('the server\'s MAX_CONCURRENT_STREAMS holds further streams back until one ends', async (t) => {
    const c = await connect(port);
    t.equal(c.peerMaxStreams, 3);
    const all = Array.from({ length: 10 }, () => { const a = collect(); c.request(get('/slow'), a.h, true); return a.done; });
    const rs = await Promise.all(all);
    t.ok(rs.every((r) => r.how === 'end' && field(r.headers[0], ':status') === '200'), 'all ten answered');
    t.ok(peak <= 3, `at most 3 at once on the server (${peak})`);
    c.close();
  });

  t.test('RST_STREAM from the server ends the stream with its code; the connection carries on', async (t) => {
    const c = await connect(port);
    const a = collect();
    c.request(get('/reset'), a.h, true);
    t.match(await a.done, { how: 'reset', code: http2.constants.NGHTTP2_ENHANCE_YOUR_CALM });
    const b = collect();
    c.request(get('/nothing'), b.h, true);
    t.equal(field((await b.done).headers[0], ':status'), '404');
    c.close();
  });

  t.test('a reset from our side reaches the server; onClose comes in a later turn', async (t) => {
    const c = await connect(port);
    const a = collect();
    const s = c.request(get('/hang'), a.h, true)!;
    const closed = new Promise<void>((r) => server.once('stream', (st) => st.on('close', () => r())));
    await new Promise((r) => setTimeout(r, 50));
    let sync = true;
    a.done.then(() => { t.notOk(sync, 'not inside reset()'); });
    s.reset(H2_CANCEL);
    sync = false;
    t.match(await a.done, { how: 'reset', code: H2_CANCEL });
    c.close();
    await closed.catch(() => {});
  });

  t.test('pause holds the stream window: the server stalls, resume lets the rest through', async (t) => {
    const c = await connect(port, {}, 256 * 1024);
    const a = collect();
    const s = c.request(get('/stream'), a.h, true)!;
    s.pause();
    await new Promise((r) => setTimeout(r, 300));
    const sent = streaming();
    t.ok(sent < 1 << 20, `the server could send ${sent} bytes of 3 MB while the client was paused`);
    t.equal(a.answer.data.length, 0, 'nothing delivered while paused');
    s.resume();
    const r = await a.done;
    t.equal(Buffer.concat(r.data).length, 3 << 20);
    c.close();
  });

  t.test('PING is answered; GOAWAY lets the streams it covers finish and refuses the rest', async (t) => {
    let goaway = 0;
    const c = await connect(port, { goaway: () => { goaway++; } });
    t.ok(await new Promise<boolean>((r) => c.ping(r)), 'PING acknowledged');
    const a = collect(), b = collect();
    c.request(get('/slow'), a.h, true); // stream 1
    c.request(get('/hang'), b.h, true); // stream 3
    await new Promise((r) => setTimeout(r, 10));
    [...sessions].at(-1)!.goaway(0, 1);
    t.match(await b.done, { how: 'refused' }, 'stream 3, above the last stream id: refused (safe to retry)');
    t.match(await a.done, { how: 'end' }, 'stream 1 is answered');
    t.equal(goaway, 1);
    t.ok(c.exhausted);
    t.equal(c.request(get('/slow'), collect().h, true), null, 'no new streams');
  });
});

/** A raw server that answers the preface with SETTINGS, then runs `then` on the socket. */
async function rawServer(then: (s: net.Socket) => void): Promise<{ port: number; received: Buffer[]; close: () => void }> {
  const received: Buffer[] = [];
  const server = net.createServer((s) => {
    s.on('data', (d) => received.push(d));
    s.on('error', () => {});
    s.write(frame(4, 0, 0, Buffer.alloc(0)));
    then(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, received, close: () => server.close() };
}
function frame(type: number, flags: number, id: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(9 + payload.length);
  b.writeUIntBE(payload.length, 0, 3);
  b[3] = type; b[4] = flags;
  b.writeUInt32BE(id, 5);
  payload.copy(b, 9);
  return b;
}
/** the GOAWAY codes the client sent, from what the raw server received */
function goawayCodes(received: Buffer[]): number[] {
  const b = Buffer.concat(received).subarray(24); // after the preface
  const codes: number[] = [];
  for (let at = 0; at + 9 <= b.length;) {
    const len = b.readUIntBE(at, 3);
    if (b[at + 3] === 7) codes.push(b.readUInt32BE(at + 9 + 4));
    at += 9 + len;
  }
  return codes;
}

t.test('hostile or broken servers end the connection with the right GOAWAY, never the process', async (t) => {
  const STATUS_200 = Buffer.from([0x88]);
  const cases: Array<[string, (s: net.Socket) => void, number]> = [
    ['a frame over 16 KB', (s) => s.write(frame(0, 0, 1, Buffer.alloc(20000))), H2_FRAME_SIZE_ERROR],
    ['an HPACK index past the table', (s) => s.write(frame(1, 4, 1, Buffer.from([0xff, 0x10]))), H2_COMPRESSION_ERROR],
    ['PUSH_PROMISE although push is off', (s) => s.write(frame(5, 4, 1, Buffer.from([0, 0, 0, 2, 0x88]))), H2_PROTOCOL_ERROR],
    ['HEADERS interrupted by another frame', (s) => s.write(Buffer.concat([frame(1, 0, 1, STATUS_200), frame(0, 0, 1, Buffer.from('x'))])), H2_PROTOCOL_ERROR],
    ['CONTINUATION without HEADERS', (s) => s.write(frame(9, 4, 1, STATUS_200)), H2_PROTOCOL_ERROR],
    ['endless CONTINUATION (over 256 KB)', (s) => { s.write(frame(1, 0, 1, STATUS_200)); for (let i = 0; i < 20; i++) s.write(frame(9, 0, 1, Buffer.alloc(16384, 0x82))); }, H2_PROTOCOL_ERROR],
    ['a connection WINDOW_UPDATE past 2^31-1', (s) => { const w = Buffer.alloc(4); w.writeUInt32BE(0x7fffffff); s.write(frame(8, 0, 0, w)); }, H2_FLOW_CONTROL_ERROR],
    ['SETTINGS of a bad length', (s) => s.write(frame(4, 0, 0, Buffer.alloc(5))), H2_FRAME_SIZE_ERROR],
    ['DATA on stream 0', (s) => s.write(frame(0, 0, 0, Buffer.from('x'))), H2_PROTOCOL_ERROR],
    ['DATA on a stream never opened', (s) => s.write(frame(0, 0, 7, Buffer.from('x'))), H2_PROTOCOL_ERROR],
  ];
  for (const [what, send, code] of cases) {
    const srv = await rawServer((s) => setTimeout(() => send(s), 20));
    const events: { close?: () => void } = {};
    const closed = new Promise<void>((r) => { events.close = r; });
    const c = await connect(srv.port, events);
    const a = collect();
    c.request(get('/'), a.h, true);
    const r = await a.done;
    await closed.catch(() => {});
    await new Promise((res) => setTimeout(res, 20));
    t.equal(r.how, 'lost', `${what}: the stream is lost with the connection`);
    t.same(goawayCodes(srv.received), [code], `${what}: GOAWAY ${code}`);
    srv.close();
  }

  t.test('DATA past the stream window resets that stream (FLOW_CONTROL_ERROR)', async (t) => {
    const srv = await rawServer((s) => setTimeout(() => {
      s.write(frame(1, 4, 1, STATUS_200));
      for (let i = 0; i < 5; i++) s.write(frame(0, 0, 1, Buffer.alloc(16384)));
    }, 20));
    const socket = net.connect({ port: srv.port, host: '127.0.0.1' });
    const c = new H2Connection(socket, { streamWindow: 65535, connectionWindow: 1 << 20, maxHeaderListBytes: 65536, onReady() {}, onGoaway() {}, onClose() {} });
    const a = collect();
    // paused: nothing is consumed, so no WINDOW_UPDATE gives the window back
    const st = c.request(get('/'), { ...a.h, onHeaders: () => st.pause() }, true)!;
    t.match(await a.done, { how: 'reset', code: H2_FLOW_CONTROL_ERROR });
    c.destroy();
    srv.close();
  });

  t.test('a header list over the bound resets that stream only; the connection carries on', async (t) => {
    const big = encodeHeaders(Array.from({ length: 20 }, (_, i) => [`x-big-${i}`, 'v'.repeat(4000)] as [string, string])); // ~80 KB
    const srv = await rawServer((s) => setTimeout(() => {
      s.write(frame(1, 0, 1, big.subarray(0, 16000)));
      for (let at = 16000; at < big.length; at += 16000) s.write(frame(9, at + 16000 >= big.length ? 4 : 0, 1, big.subarray(at, at + 16000)));
      s.write(frame(1, 5, 3, STATUS_200));
    }, 30));
    const socket = net.connect({ port: srv.port, host: '127.0.0.1' });
    const c = new H2Connection(socket, { streamWindow: 65535, connectionWindow: 1 << 20, maxHeaderListBytes: 64 * 1024, onReady() {}, onGoaway() {}, onClose() {} });
    const a = collect(), b = collect();
    c.request(get('/big'), a.h, true);
    c.request(get('/small'), b.h, true);
    t.match(await a.done, { how: 'reset', code: H2_PROTOCOL_ERROR }, 'the 80 KB header list: that stream is reset');
    t.match(await b.done, { how: 'end', headers: [[[':status', '200']]] }, 'the next stream on the connection is answered');
    c.destroy();
    srv.close();
  });

  t.test('a peer that grants a huge window and does not read: writes stop being accepted after a few MB (the socket buffers), not all of them', async (t) => {
    const huge = Buffer.alloc(6);
    huge.writeUInt16BE(4, 0); huge.writeUInt32BE(0x7fffffff, 2);
    const inc = Buffer.alloc(4);
    inc.writeUInt32BE(0x7fffffff - 65535);
    const srv = await rawServer((s) => { s.write(Buffer.concat([frame(4, 0, 0, huge), frame(8, 0, 0, inc)])); setTimeout(() => s.pause(), 10); });
    const c = await connect(srv.port);
    await new Promise((r) => setTimeout(r, 50)); // the window settings are in
    const a = collect();
    const st = c.request([[':method', 'POST'], [':scheme', 'http'], [':authority', '127.0.0.1'], [':path', '/up']], a.h)!;
    let accepted = 0;
    const chunk = Buffer.alloc(65536);
    for (let turn = 0; turn < 40; turn++) {
      while (accepted < 256 << 20 && st.write(chunk)) accepted += chunk.length;
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 5));
    }
    t.ok(accepted < 16 << 20, `the stream accepted ${(accepted / 1048576).toFixed(1)} MB with nothing read (bounded, not 256 MB)`);
    t.ok(c.socket.writableLength < 8 << 20, `the socket holds ${(c.socket.writableLength / 1048576).toFixed(1)} MB`);
    c.destroy();
    srv.close();
  });

  t.test('an answer delivered one byte at a time', async (t) => {
    const answer = Buffer.concat([frame(1, 4, 1, STATUS_200), frame(0, 0, 1, Buffer.from('hello')), frame(1, 5, 1, encodeHeaders([['grpc-status', '0']]))]);
    const srv = await rawServer((s) => setTimeout(async () => { for (const b of answer) { s.write(Buffer.from([b])); await new Promise((r) => setImmediate(r)); } }, 20));
    const c = await connect(srv.port);
    const a = collect();
    c.request(get('/'), a.h, true);
    const r = await a.done;
    t.equal(r.how, 'end');
    t.equal(Buffer.concat(r.data).toString(), 'hello');
    t.same(r.headers, [[[':status', '200']], [['grpc-status', '0']]]);
    c.destroy();
    srv.close();
  });

  t.test('a peer that closes the socket: every stream lost, no new streams', async (t) => {
    const srv = await rawServer((s) => setTimeout(() => s.destroy(), 30));
    const c = await connect(srv.port);
    const all = [collect(), collect()];
    for (const a of all) c.request(get('/'), a.h, true);
    for (const a of all) t.equal((await a.done).how, 'lost');
    t.equal(c.request(get('/'), collect().h, true), null);
    srv.close();
  });
});
