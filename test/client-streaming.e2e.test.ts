// Client-streaming and bidi gRPC methods over plain HTTP/1.1, both engines, against the demo
// grpc-js server: an NDJSON request body streamed to the server as it arrives (a bidi answer
// line comes back before the request ends), bad lines, limits, a client that leaves, and a
// 50 MB stream through bounded gateway memory.
import t from 'tap';
import http from 'node:http';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { startCatalogServer, PROTO_DIR } from '../src/demo/catalog-service.js';

const NDJSON = { 'content-type': 'application/x-ndjson' };

/** A streaming POST: `body` writes the request, `onText` sees the answer as it arrives; resolves the status, type and whole answer. */
function post(url: string, body: (req: http.ClientRequest) => void, onText: (soFar: string) => void = () => {}): Promise<{ status: number; type: string; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: NDJSON }, (r) => {
      let text = '';
      r.setEncoding('utf8');
      r.on('data', (c: string) => { text += c; onText(text); });
      r.on('end', () => resolve({ status: r.statusCode!, type: String(r.headers['content-type']), text }));
      r.on('error', reject);
    });
    req.on('error', reject);
    body(req);
  });
}

t.test('client streaming and bidi over HTTP/1.1', async (t) => {
  const grpcServer = await startCatalogServer();
  t.teardown(() => grpcServer.close());
  for (const engine of ENGINES) {
    await t.test(`${engine} engine`, async (t) => {
      const gw = await startGatewayProcess({
        limits: { maxBufferedBodyBytes: 16384, maxBodyBytes: 200 * 1024 * 1024 },
        upstreams: { catalog: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${grpcServer.port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] } } },
        routes: [
          { name: 'catalog', transcode: { upstream: 'catalog' } },
        ],
      }, engine);
      t.teardown(() => gw.stop());
      const url = (p: string) => `${gw.url}${p}`;

      await t.test('client streaming: NDJSON lines in, one JSON answer', async (t) => {
        const lines = Array.from({ length: 20 }, (_, i) => JSON.stringify({ title: `Book ${i}`, pages: i, published: '2024-01-02T03:04:05Z' }));
        const res = await fetch(url('/v1/books:import'), { method: 'POST', headers: NDJSON, body: `${lines.join('\n')}\n\n` });
        t.equal(res.status, 200);
        t.same(await res.json(), { count: 20, pages: '190', firstTitle: 'Book 0', lastTitle: 'Book 19' }, 'every line reached the server as a message (blank lines skipped)');
        const noNewline = await fetch(url('/v1/books:import'), { method: 'POST', headers: NDJSON, body: '{"title":"only"}' });
        t.same(await noNewline.json(), { count: 1, firstTitle: 'only', lastTitle: 'only' }, 'a last line without a newline counts (zero pages: a default, omitted)');
        const empty = await fetch(url('/v1/books:import'), { method: 'POST', headers: NDJSON });
        t.same([empty.status, await empty.json()], [200, {}], 'no body: zero messages');
      });

      await t.test('bidi: each answer line arrives while the request is still open', async (t) => {
        let request!: http.ClientRequest;
        const got = await post(url('/v1/notes:discuss'), (req) => { request = req; req.write('{"text":"first","seq":1}\n'); }, (soFar) => {
          if (soFar === '{"text":"FIRST","seq":1}\n') { request.write('{"text":"second","seq":2}\r\n'); request.end(); }
        });
        t.equal(got.status, 200);
        t.match(got.type, /application\/x-ndjson/);
        t.equal(got.text, '{"text":"FIRST","seq":1}\n{"text":"SECOND","seq":2}\n', 'the second note was sent only after the first answer came back');
      });

      await t.test('bad input: a bad line is a 400 naming it, and the call is cancelled', async (t) => {
        const cancelled = grpcServer.cancelled;
        const res = await fetch(url('/v1/books:import'), { method: 'POST', headers: NDJSON, body: '{"title":"a"}\n{"title": 5}\n{"title":"c"}\n' });
        t.equal(res.status, 400);
        t.match(((await res.json()) as { message: string }).message, /^line 2: title: expected a string/);
        for (let i = 0; i < 50 && grpcServer.cancelled === cancelled; i++) await new Promise((r) => setTimeout(r, 20));
        t.ok(grpcServer.cancelled > cancelled, 'the server saw the call cancelled');
        const notJson = await fetch(url('/v1/books:import'), { method: 'POST', headers: NDJSON, body: '{"title":"a"}\nnot json\n' });
        t.equal(notJson.status, 400);
        const wrongType = await fetch(url('/v1/books:import'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"title":"a"}' });
        t.equal(wrongType.status, 415, 'not NDJSON: 415');
        await wrongType.arrayBuffer();
        const long = await fetch(url('/v1/books:import'), { method: 'POST', headers: NDJSON, body: `{"title":"${'x'.repeat(20000)}"}\n` });
        t.equal(long.status, 400, 'a line over limits.maxBufferedBodyBytes');
        t.match(((await long.json()) as { message: string }).message, /longer than 16384 bytes/);
      });

      await t.test('a client that leaves mid-stream cancels the call', async (t) => {
        const cancelled = grpcServer.cancelled;
        await new Promise<void>((resolve) => {
          const req = http.request(url('/v1/books:import'), { method: 'POST', headers: NDJSON });
          req.on('error', () => resolve());
          req.write('{"title":"a"}\n');
          setTimeout(() => { req.destroy(); resolve(); }, 150);
        });
        for (let i = 0; i < 100 && grpcServer.cancelled === cancelled; i++) await new Promise((r) => setTimeout(r, 20));
        t.ok(grpcServer.cancelled > cancelled, 'the server saw CANCELLED');
      });

      await t.test('NDJSON streams of 50 and 100 MB go through with bounded gateway memory', async (t) => {
        const line = `${JSON.stringify({ title: 'x'.repeat(1000), pages: 1 })}\n`;
        const chunk = line.repeat(64);
        const stream = (mb: number) => {
          const count = Math.ceil((mb * 1024 * 1024) / line.length / 64) * 64;
          return post(url('/v1/books:import'), (req) => {
            let sent = 0;
            const more = () => {
              while (sent < count) { sent += 64; if (!req.write(chunk)) { req.once('drain', more); return; } }
              req.end();
            };
            more();
          }).then((got) => ({ ...got, count }));
        };
        // The first large transfer of a process grows its heaps once (garbage V8 collects
        // lazily, JIT code): 50 MB to warm up, then 100 MB measured.
        const warm = await stream(50);
        t.equal((JSON.parse(warm.text) as { count: number }).count, warm.count, `50 MB: ${warm.count} messages reached the server`);
        const base = gw.rssBytes();
        let peak = base;
        const timer = setInterval(() => { peak = Math.max(peak, gw.rssBytes()); }, 10);
        const got = await stream(100).finally(() => clearInterval(timer));
        t.equal(got.status, 200);
        t.equal((JSON.parse(got.text) as { count: number }).count, got.count, `100 MB: ${got.count} messages reached the server`);
        const growth = Math.max(peak, gw.rssBytes()) - base;
        t.ok(growth < 48 * 1024 * 1024, `gateway RSS grew ${(growth / 1048576).toFixed(1)} MB (< 48 MB) during a 100 MB stream`);
      });

      await t.test('a server that stops reading stalls the client (backpressure end to end)', async (t) => {
        const line = `${JSON.stringify({ title: 'x'.repeat(1000), pages: 1 })}\n`;
        const chunk = line.repeat(64);
        const count = Math.ceil((24 * 1024 * 1024) / chunk.length) * 64;
        let sent = 0;
        const samples: number[] = [];
        const got = post(url('/v1/books:import'), (req) => {
          req.write('{"title":"slow"}\n');
          const more = () => {
            while (sent < count) { sent += 64; if (!req.write(chunk)) { req.once('drain', more); return; } }
            req.end();
          };
          more();
          // two looks while the server is paused (1.5 s from its first message)
          for (const ms of [700, 1200]) setTimeout(() => samples.push(sent * line.length), ms);
        });
        const res = await got;
        t.equal((JSON.parse(res.text) as { count: number }).count, count + 1, 'every message arrived once the server read again');
        const [a = 0, b = 0] = samples;
        const mb = (n: number) => (n / 1048576).toFixed(1);
        t.ok(samples.length === 2 && b < 20 * 1024 * 1024, `while the server did not read, the client could send only ${mb(b)} MB of 24 (HTTP/2 windows, the relay's 1 MB and socket buffers)`);
        t.ok(b - a < 2 * 1024 * 1024, `and it was stalled: ${mb(b - a)} MB more between 0.7 and 1.2 s`);
      });

      await t.test('limits.maxBodyBytes bounds a stream: 413', async (t) => {
        const small = await startGatewayProcess({
          limits: { maxBodyBytes: 4096 },
          upstreams: { catalog: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${grpcServer.port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] } } },
          routes: [{ transcode: { upstream: 'catalog' } }],
        }, engine);
        t.teardown(() => small.stop());
        const got = await post(`${small.url}/v1/books:import`, (req) => {
          req.on('error', () => { /* the gateway may close after its 413 */ });
          for (let i = 0; i < 100; i++) req.write('{"title":"0123456789012345678901234567890123456789"}\n');
          req.end();
        }).catch(() => ({ status: 0, type: '', text: '' }));
        t.equal(got.status, 413);
      });
    });
  }
});
