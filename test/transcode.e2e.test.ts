// REST/JSON → gRPC transcoding through the real gateway (both engines) against a real
// grpc-js server: HttpRule templates and mapping, the proto3 JSON mapping of every kind of
// field, errors, metadata, deadlines, server streaming (NDJSON, SSE, errors in-band,
// cancellation) and a reload that adds a method.
import t from 'tap';
import http from 'node:http';
import zlib from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync, writeFileSync } from 'node:fs';
import grpc from '@grpc/grpc-js';
import { makeCerts } from './helpers/certs.js';
import { stringify } from 'yaml';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { request } from './helpers/client.js';
import { startCatalogServer, PROTO_DIR } from '../src/demo/catalog-service.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures');

function rawGet(url: string, headers: Record<string, string> = {}, abortAfterBytes = 0): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c;
        if (abortAfterBytes && body.length >= abortAfterBytes) { req.destroy(); resolve({ status: res.statusCode!, headers: res.headers, body }); }
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

t.test('transcoding', async (t) => {
  const grpcServer = await startCatalogServer();
  t.teardown(() => grpcServer.close());
  const last = (method: string) => [...grpcServer.calls].reverse().find((c) => c.method === method)!;
  for (const engine of ENGINES) {
    await t.test(`${engine} engine`, async (t) => {
      const config = {
        upstreams: {
          catalog: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${grpcServer.port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] } },
        },
        routes: [
          { name: 'slow', match: { prefix: '/v1/shelves/timeout' }, timeoutMs: 300, transcode: { upstream: 'catalog' } },
          { name: 'catalog-api', transcode: { upstream: 'catalog', services: ['demo.catalog.v1.Catalog'], fallback: true, forwardHeaders: ['x-tenant'] } },
        ],
      };
      const gw = await startGatewayProcess(config, engine);
      t.teardown(() => gw.stop());
      const post = (path: string, body: unknown, method = 'POST', headers: Record<string, string> = {}) =>
        request(`${gw.url}${path}`, { method, body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });

      await t.test('path templates: multi-segment variables keep %2F, single ones decode, nested field paths, verbs', async (t) => {
        const r = await request(`${gw.url}/v1/shelves/classics/books/1`);
        t.equal(r.status, 200);
        t.same(r.json, { name: 'shelves/classics/books/1', title: 'Sketch of the Analytical Engine', author: 'Ada Lovelace', genre: 'SCIENCE', isbn: '9780000000001', published: '1843-12-25T00:00:00Z', tags: ['computing'], pages: 66 });
        t.equal(r.headers['grpc-metadata-x-served-by'], 'catalog', 'response metadata as Grpc-Metadata-*');
        await request(`${gw.url}/v1/shelves/a%2Fb/books/c%20d`);
        t.equal((last('GetBook').request as { name: string }).name, 'shelves/a%2Fb/books/c d', 'multi-segment: %2F kept, the rest decoded');
        await request(`${gw.url}/v1/shelves/a%2fb%2525/books/c`);
        t.equal((last('GetBook').request as { name: string }).name, 'shelves/a%2fb%25/books/c', 'multi-segment: %2f stays %2f byte for byte; decoded exactly once (%2525 is %25)');
        const e = await request(`${gw.url}/v1/echo/hello%20w%2Forld/files/x/y.txt`);
        t.equal(e.json.text, 'hello w/orld', 'single segment: fully decoded');
        t.equal(e.json.path, 'files/x/y.txt', '** takes the rest of the path');
        const u = await post('/v1/shelves/s1/books/7:replace', { title: 'New' }, 'PUT');
        t.equal(u.status, 200, 'custom verb :replace');
        t.equal(u.json.name, 'shelves/s1/books/7', '{book.name=...} sets a nested field');
        t.equal(u.json.title, 'New');
      });

      await t.test('body bound to a repeated field: the body is a JSON array', async (t) => {
        const r = await post('/v1/shelves/classics/books/1/tags', ['a', 'b'], 'PUT');
        t.equal(r.status, 200, r.body);
        t.same(r.json.tags, ['a', 'b']);
        t.same((last('SetTags').request as { tags: string[] }).tags, ['a', 'b']);
        const notArray = await post('/v1/shelves/classics/books/1/tags', { tags: ['a'] }, 'PUT');
        t.equal(notArray.status, 400);
        t.match(notArray.json.message, /expected a JSON array/);
      });

      await t.test('google.api.HttpBody: raw bodies with their content type, both ways, and streamed', async (t) => {
        const cover = await rawGet(`${gw.url}/v1/shelves/classics/books/1/cover`);
        t.equal(cover.status, 200);
        t.equal(cover.headers['content-type'], 'image/svg+xml', 'content_type is the Content-Type');
        t.equal(cover.body, '<svg xmlns="http://www.w3.org/2000/svg"><title>shelves/classics/books/1</title></svg>', 'data is the body, not JSON');
        const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0xfe]);
        const put = await new Promise<{ status: number; type: string | undefined; body: Buffer }>((resolve, reject) => {
          const req = http.request(`${gw.url}/v1/shelves/classics/books/1/cover`, { method: 'PUT', headers: { 'content-type': 'image/png' }, agent: false }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body: Buffer.concat(chunks) }));
          });
          req.on('error', reject);
          req.end(bytes);
        });
        t.equal(put.status, 200);
        const seen = last('SetCover').request as { name: string; cover: { content_type: string; data: Buffer } };
        t.equal(seen.name, 'shelves/classics/books/1');
        t.equal(seen.cover.content_type, 'image/png', 'the request\'s Content-Type went into content_type');
        t.same([...seen.cover.data], [...bytes], 'the raw request body (not UTF-8, not JSON) went into data');
        t.equal(put.type, 'image/png');
        t.same([...put.body], [...bytes], 'and came back raw');
        const streamed = await new Promise<{ type: string | undefined; body: Buffer }>((resolve, reject) => {
          http.get(`${gw.url}/v1/shelves/classics/books/1/cover:stream`, { agent: false }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ type: res.headers['content-type'], body: Buffer.concat(chunks) }));
          }).on('error', reject);
        });
        t.equal(streamed.type, 'application/octet-stream', 'a stream of HttpBody takes the first message\'s content type');
        t.same([...streamed.body], [0, 0xff, 0, 1, 0xff, 1, 2, 0xff, 2], 'the messages\' data, concatenated raw');
      });

      await t.test('maps with non-string keys reach the server as numbers and booleans', async (t) => {
        const r = await post('/v1/echo', { byFlag: { false: 'off', true: 'on' }, bySmall: { '-7': 's' }, counts: { '': 3 } });
        t.equal(r.status, 200, r.body);
        const seen = last('Echo').request as { by_flag: Record<string, string>; by_small: Record<string, string>; counts: Record<string, number> };
        t.same(seen.by_flag, { false: 'off', true: 'on' }, 'false stays false (protobufjs alone would write it as true)');
        t.same(seen.by_small, { '-7': 's' });
        t.same(seen.counts, { '': 3 }, 'the empty string is a valid key');
        t.same(r.json.counts, { '': 3 });
        t.same(r.json.bySmall, { '-7': 's' });
      });

      await t.test('body: "field" and "*"; path values win over body and query', async (t) => {
        const c = await post('/v1/shelves/s9/books', { title: 'T', isbn: 42, genre: 'FICTION' });
        t.equal(c.status, 200);
        t.same(last('CreateBook').request, { shelf: 's9', book: { title: 'T', isbn: '42', genre: 'FICTION' } });
        t.equal(c.json.name, 'shelves/s9/books/new');
        const p = await post('/v1/shelves/s/books/9', { name: 'shelves/evil/books/0', title: 'Patched' }, 'PATCH');
        t.equal(p.json.name, 'shelves/s/books/9', 'the path wins over the body');
        const q = await request(`${gw.url}/v1/echo/fromPath/files/f?text=fromQuery&i32=5`);
        t.equal(q.json.text, 'fromPath', 'the path wins over the query');
        t.equal(q.json.i32, 5, 'other fields come from the query');
      });

      await t.test('query parameters: nested, repeated, enums by name or number, wrappers; response_body', async (t) => {
        const r = await request(`${gw.url}/v1/shelves/classics/books?page_size=1&genre=2&ids=1&ids=2&author=Ada`);
        t.equal(r.status, 200);
        t.same(last('ListBooks').request, { shelf: 'classics', page_size: 1, genre: 'SCIENCE', ids: ['1', '2'], author: { value: 'Ada' } });
        t.ok(Array.isArray(r.json), 'response_body: "books" returns only that field');
        t.equal(r.json.length, 1);
        const n = await request(`${gw.url}/v1/echo/a/files/b?nested.child.value=deep&genre=FICTION&flag=true&when=2024-02-29T12:00:00.25Z`);
        t.same(n.json.nested, { child: { value: 'deep' } });
        t.equal(n.json.genre, 'FICTION');
        t.equal(n.json.flag, true);
        t.equal(n.json.when, '2024-02-29T12:00:00.250Z');
      });

      await t.test('proto3 JSON mapping, both ways, every kind of field', async (t) => {
        const input = {
          text: 'héllo', i32: -5, i64: 9007199254740991, u64: '18446744073709551615', f64: '7', s32: -3, u32: 4294967295,
          dbl: 'NaN', flt: 'Infinity', flag: true, data: 'aGk_Pz8-', genre: 1, numbers: ['1', 2], counts: { a: 1, b: 2 },
          nested: { value: 'n', child: { value: 'c' } }, when: '2024-01-02T03:04:05.123456Z', took: '-1.5s', mask: 'pageSize,book.title',
          meta: { a: [1, 'x', null, { b: false }] }, value: null, list: [1, 'two'], wrapped_int: '12', wrappedStr: '', wrappedBool: null,
          any: { '@type': 'type.googleapis.com/demo.catalog.v1.Book', title: 'Any book', isbn: '5' },
          empty: {}, renamed: 'by proto name', items: [{ value: 'i' }], right: 0,
          wrappedDouble: 'NaN', wrappedFloat: 0.5, wrappedUint64: 18446744073709551615n.toString(), wrappedInt32: -7, wrappedUint32: 7, wrappedBytes: 'AAE=',
        };
        const r = await post('/v1/echo', input);
        t.equal(r.status, 200, r.body);
        t.same(r.json, {
          text: 'héllo', i32: -5, i64: '9007199254740991', u64: '18446744073709551615', f64: '7', s32: -3, u32: 4294967295,
          dbl: 'NaN', flt: 'Infinity', flag: true, data: 'aGk/Pz8+', genre: 'FICTION', numbers: ['1', '2'], counts: { a: 1, b: 2 },
          nested: { value: 'n', child: { value: 'c' } }, when: '2024-01-02T03:04:05.123456Z', took: '-1.500s', mask: 'pageSize,book.title',
          meta: { a: [1, 'x', null, { b: false }] }, value: null, list: [1, 'two'], wrappedInt: '12', wrappedStr: '',
          any: { '@type': 'type.googleapis.com/demo.catalog.v1.Book', title: 'Any book', isbn: '5' },
          empty: {}, customName: 'by proto name', items: [{ value: 'i' }], right: 0,
          wrappedDouble: 'NaN', wrappedFloat: 0.5, wrappedUint64: '18446744073709551615', wrappedInt32: -7, wrappedUint32: 7, wrappedBytes: 'AAE=',
        });
        t.same((last('Echo').request as { mask: unknown }).mask, { paths: ['page_size', 'book.title'] }, 'FieldMask paths arrive in snake_case');
        const wkAny = await post('/v1/echo', { any: { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '3s' } });
        t.same(wkAny.json.any, { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '3s' }, 'Any holding a well-known type');
        t.same((await post('/v1/echo', {})).json, {}, 'defaults are omitted');
      });

      await t.test('bad input: 400 naming the field; 404 and 405 like any route', async (t) => {
        for (const [body, message] of [
          [{ nope: 1 }, 'nope: unknown field'],
          [{ text: 5 }, 'text: expected a string, got number 5'],
          [{ i32: 2147483648 }, 'i32: 2147483648 is out of range for int32'],
          [{ u64: '-1' }, 'u64: -1 is out of range for uint64'],
          ['{"i64": 9007199254740993}', 'i64: 9007199254740992 is beyond 2^53 and loses precision as a JSON number; send it as a string'],
          [{ genre: 'POETRY' }, 'genre: "POETRY" is not a value of enum Genre'],
          [{ nested: { child: { nope: true } } }, 'nested.child.nope: unknown field'],
          [{ when: 'yesterday' }, 'when: expected an RFC 3339 timestamp like "2024-01-31T12:00:00Z", got string "yesterday"'],
          [{ left: 'a', right: 1 }, 'right: only one of the oneof "choice" fields may be set (also left)'],
          ['{"text": ', /^malformed JSON body/],
        ] as Array<[unknown, string | RegExp]>) {
          const r = await post('/v1/echo', body);
          t.equal(r.status, 400, JSON.stringify(body));
          t.equal(r.json.code, 3);
          if (typeof message === 'string') t.equal(r.json.message, message);
          else t.match(r.json.message, message);
        }
        const bad = await request(`${gw.url}/v1/echo`, { method: 'POST', body: Buffer.from([0x7b, 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), headers: { 'content-type': 'application/json' } });
        t.equal(bad.status, 400, 'invalid UTF-8 inside a JSON string');
        t.equal(bad.json.message, 'malformed JSON body: not valid UTF-8');
        const verb = await request(`${gw.url}/v1/shelves/classics/books/1:watch`, { method: 'POST' });
        t.equal(verb.status, 404, 'a registered verb (:watch) on a path no rule binds with it is a 404, not a 405 from the verb-less rules');
        const unregistered = await request(`${gw.url}/v1/shelves/classics/books/1:nosuchverb`);
        t.equal(unregistered.status, 200);
        t.equal(unregistered.json.name, 'shelves/classics/books/1:nosuchverb', 'an unregistered ":suffix" is part of the last segment');
        const nf = await request(`${gw.url}/v2/unknown`);
        t.equal(nf.status, 404);
        t.equal(nf.json.error.code, 'route_not_found');
        const na = await request(`${gw.url}/v1/echo`);
        t.equal(na.status, 405);
        t.equal(na.headers.allow, 'POST');
      });

      await t.test('gRPC status → HTTP status, with google.rpc.Status details', async (t) => {
        const expected: Record<number, number> = { 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401 };
        for (const [code, status] of Object.entries(expected)) {
          const r = await request(`${gw.url}/v1/shelves/s/books/error-${code}`);
          t.equal(r.status, status, `gRPC ${code} → ${status}`);
          const details: unknown[] = [
            { '@type': 'type.googleapis.com/demo.catalog.v1.Nested', value: `detail for ${code}` },
            { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: `CODE_${code}`, domain: 'catalog.example.com', metadata: { code } },
          ];
          if (code === '3') details.push({ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'book.title', description: 'must not be empty' }] });
          if (code === '14') details.push({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '1.500s' });
          t.same(r.json, { code: Number(code), message: `error ${code} requested`, details }, 'google.rpc error details expanded as JSON (the catalog\'s protos do not import them)');
        }
        const missing = await request(`${gw.url}/v1/shelves/s/books/missing`);
        t.same(missing.json, { code: 5, message: 'book "shelves/s/books/missing" not found', details: [] });
      });

      await t.test('metadata: default and configured headers go upstream; deadline from the route timeout', async (t) => {
        const r = await post('/v1/echo', { text: 'm' }, 'POST', { authorization: 'Bearer t0k', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'x-tenant': 'acme', 'x-other': 'no' });
        t.equal(r.headers['grpc-metadata-echo-authorization'], 'Bearer t0k');
        t.equal(r.headers['grpc-metadata-echo-traceparent'], '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
        t.equal(r.headers['grpc-metadata-echo-x-request-id'], r.headers['x-request-id']);
        t.equal(r.headers['grpc-metadata-echo-x-tenant'], 'acme', 'forwardHeaders');
        t.equal(last('Echo').metadata['x-other'], undefined, 'other headers stay at the gateway');
        const started = Date.now();
        const slow = await request(`${gw.url}/v1/shelves/timeout/books/slow`);
        t.equal(slow.status, 504);
        t.equal(slow.json.code, 4);
        t.ok(Date.now() - started < 2000, 'answered at the 300 ms deadline, not the server\'s 3 s');
        t.notMatch(slow.body, /127\.0\.0\.1|remote_addr/, 'no internal address in the message');
      });

      await t.test('a client that leaves cancels a unary call too', async (t) => {
        // Its own request id: a deadline cancel of an earlier test cannot be taken for this one.
        const id = `leaving-client-${engine}`;
        const req = http.get(`${gw.url}/v1/shelves/s/books/slow`, { agent: false, headers: { 'x-request-id': id } });
        req.on('error', () => {});
        await new Promise((r) => setTimeout(r, 300));
        const left = Date.now();
        req.destroy();
        for (let i = 0; i < 100 && !grpcServer.cancelledIds.includes(id); i++) await new Promise((r) => setTimeout(r, 20));
        t.ok(grpcServer.cancelledIds.includes(id), 'the server saw CANCELLED for this call (its answer was due after 3 s; the route\'s deadline is 30 s)');
        t.ok(Date.now() - left < 2000, 'soon after the client left');
      });

      await t.test('server streaming: NDJSON, SSE, errors in-band, cancellation reaches the server', async (t) => {
        const nd = await rawGet(`${gw.url}/v1/shelves/classics:watch?page_size=3`);
        t.equal(nd.status, 200);
        t.equal(nd.headers['content-type'], 'application/x-ndjson');
        const lines = nd.body.trim().split('\n').map((l) => JSON.parse(l));
        t.same(lines.map((l) => l.pages ?? 0), [0, 1, 2]);
        const sse = await rawGet(`${gw.url}/v1/shelves/classics:watch?page_size=2`, { accept: 'text/event-stream' });
        t.equal(sse.headers['content-type'], 'text/event-stream');
        t.equal(sse.body.split('\n\n').filter((e) => e.startsWith('data: ')).length, 2);
        const broken = await rawGet(`${gw.url}/v1/shelves/broken:watch?page_size=5`);
        const parts = broken.body.trim().split('\n').map((l) => JSON.parse(l));
        t.equal(parts.length, 3, 'two messages, then the error');
        t.same(parts[2], { error: { code: 13, message: 'the shelf broke', details: [] } });
        // SSE: the error after the first message is an `event: error` event
        const brokenSse = await rawGet(`${gw.url}/v1/shelves/broken:watch?page_size=5`, { accept: 'text/event-stream' });
        const events = brokenSse.body.split('\n\n').filter((e) => e.trim());
        t.equal(events.length, 3, 'two data events, then the error event');
        t.ok(events.slice(0, 2).every((e) => e.startsWith('data: ')));
        t.match(events[2], /^event: error\ndata: /);
        t.same(JSON.parse(events[2]!.split('\ndata: ')[1]!), { error: { code: 13, message: 'the shelf broke', details: [] } });
        const id = `stream-leaver-${engine}`;
        const partial = await rawGet(`${gw.url}/v1/shelves/slow:watch?page_size=1000`, { 'x-request-id': id }, 100);
        t.ok(partial.body.length >= 100);
        for (let i = 0; i < 50 && !grpcServer.cancelledIds.includes(id); i++) await new Promise((r) => setTimeout(r, 20));
        t.ok(grpcServer.cancelledIds.includes(id), 'the client went away: this gRPC stream was cancelled');
      });

      await t.test('open streams do not hold pool slots: 60 slow streams, and a unary call still answers at once', async (t) => {
        // the pool runs workers × concurrentTasksPerWorker (2 × 16) tasks at once
        const streams = Array.from({ length: 60 }, () => {
          const req = http.get(`${gw.url}/v1/shelves/slow:watch?page_size=1000`, { agent: false });
          return { req, first: new Promise<void>((resolve) => req.once('response', (res) => res.once('data', () => resolve()))) };
        });
        await Promise.all(streams.map((s) => s.first));
        const started = Date.now();
        const book = await request(`${gw.url}/v1/shelves/classics/books/1`);
        t.equal(book.status, 200);
        t.ok(Date.now() - started < 1000, `a unary call beside 60 open streams took ${Date.now() - started} ms`);
        for (const s of streams) s.req.destroy();
      });

      await t.test('a client that stops reading stops the gRPC stream (backpressure end to end)', async (t) => {
        const req = http.get(`${gw.url}/v1/shelves/fast:watch?page_size=100000000`, { agent: false });
        const res = await new Promise<http.IncomingMessage>((resolve) => req.once('response', resolve));
        res.pause(); // read nothing more
        const start = grpcServer.streamed;
        // The buffers between the client and the server fill (slower on a loaded machine; TCP
        // windows grow as they go): the server must come to a stall — a second in which it
        // sends almost nothing — within 10 s. Unthrottled, it writes tens of thousands a second.
        let before = 0;
        let stalled: { total: number; more: number } | null = null;
        for (let waited = 0; waited < 10_000 && !stalled; waited += 1000) {
          await new Promise((r) => setTimeout(r, 1000));
          const now = grpcServer.streamed - start;
          if (waited > 0 && now - before < Math.max(500, before / 10)) stalled = { total: before, more: now - before };
          before = now;
        }
        t.ok(stalled, `the server stalled (${stalled ? `${stalled.total} messages, then ${stalled.more} more in 1 s` : `still sending after 10 s: ${before} messages`})`);
        t.ok(before < 1_000_000, 'bounded by buffers, not by the stream length');
        req.destroy();
      });

      await t.test('fallback route for unannotated methods', async (t) => {
        const r = await post('/demo.catalog.v1.Catalog/Ping', {});
        t.equal(r.status, 200);
        t.same(r.json, {});
      });

      await t.test('a reload that adds a proto method', async (t) => {
        t.equal((await post('/v1/shelves/s/books/1:archive', {})).status, 405, 'not bound yet: only GET/DELETE {name} match that path');
        const next = structuredClone(config);
        next.upstreams.catalog.protos = { files: ['demo/catalog.proto', 'demo/catalog_admin.proto'], includeDirs: [PROTO_DIR, join(FIXTURES, 'protos-v2')] };
        next.routes[1]!.transcode.services!.push('demo.catalog.v1.CatalogAdmin');
        writeFileSync(gw.configFile, stringify({ ...next, threads: 1, listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, engine }));
        const r = await request(`${gw.adminUrl}/admin/reload`, { method: 'POST' });
        t.equal(r.status, 200, r.body);
        const a = await post('/v1/shelves/s/books/1:archive', {});
        t.equal(a.status, 501, 'bound now; the server does not implement it (UNIMPLEMENTED → 501)');
        t.equal(a.json.code, 12);
        t.equal((await request(`${gw.url}/v1/shelves/classics/books/1`)).status, 200, 'the other methods still work');
      });
    });
  }
});

t.test('a full transcoding queue answers 503 at once', async (t) => {
  const grpcServer = await startCatalogServer();
  const gw = await startGatewayProcess({
    transcoding: { workers: 1, concurrentTasksPerWorker: 1, maxQueue: 1, inlineBelowBytes: 0 },
    upstreams: { catalog: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${grpcServer.port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] } } },
    routes: [{ timeoutMs: 1000, transcode: { upstream: 'catalog' } }],
  }, 'uws');
  t.teardown(async () => { await gw.stop(); await grpcServer.close(); });
  const replies = await Promise.all(Array.from({ length: 4 }, async (_, i) => {
    await new Promise((r) => setTimeout(r, i * 30));
    const started = Date.now();
    const r = await request(`${gw.url}/v1/shelves/s/books/slow`);
    return { status: r.status, ms: Date.now() - started, retryAfter: r.headers['retry-after'] };
  }));
  const rejected = replies.filter((r) => r.status === 503);
  t.equal(replies.filter((r) => r.status === 504).length, 2, 'one running, one queued: both reach their deadline');
  t.equal(rejected.length, 2, 'the rest are refused');
  t.ok(rejected.every((r) => r.ms < 200 && r.retryAfter === '1'), 'at once, with Retry-After');
});

t.test('targets are balanced by weight', async (t) => {
  const a = await startCatalogServer();
  const b = await startCatalogServer();
  const gw = await startGatewayProcess({
    transcoding: { workers: 1 },
    upstreams: { catalog: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${a.port}`, weight: 3 }, { url: `grpc://127.0.0.1:${b.port}`, weight: 1 }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] } } },
    routes: [{ transcode: { upstream: 'catalog' } }],
  }, 'uws');
  t.teardown(async () => { await gw.stop(); await a.close(); await b.close(); });
  for (let i = 0; i < 40; i++) await request(`${gw.url}/v1/shelves/classics/books/1`);
  t.same([a.calls.length, b.calls.length], [30, 10], 'weights 3:1');
});

t.test('grpcs:// upstreams: the certificate is verified with the configured CA', async (t) => {
  const certs = makeCerts([{ name: 'grpc', san: 'DNS:localhost,IP:127.0.0.1' }]);
  const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(certs.leaf.grpc!.cert), private_key: readFileSync(certs.leaf.grpc!.key) }], false);
  const server = await startCatalogServer(0, creds);
  const target = [{ url: `grpcs://127.0.0.1:${server.port}` }];
  const protos = { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] };
  const gw = await startGatewayProcess({
    upstreams: {
      verified: { protocol: 'grpc', targets: target, protos, tls: { caFile: certs.caFile } },
      untrusted: { protocol: 'grpc', targets: target, protos },
      // the CA is trusted, but the certificate names localhost/127.0.0.1, not this name
      wrongName: { protocol: 'grpc', targets: target, protos, tls: { caFile: certs.caFile, serverName: 'other.example' } },
    },
    routes: [
      { match: { host: 'verified.test', prefix: '/' }, transcode: { upstream: 'verified' } },
      { match: { host: 'untrusted.test', prefix: '/' }, transcode: { upstream: 'untrusted' }, timeoutMs: 2000 },
      { match: { host: 'wrong-name.test', prefix: '/' }, transcode: { upstream: 'wrongName' }, timeoutMs: 2000 },
    ],
  }, 'uws');
  t.teardown(async () => { await gw.stop(); await server.close(); });
  const ok = await request(`${gw.url}/v1/shelves/classics/books/1`, { headers: { host: 'verified.test' } });
  t.equal(ok.status, 200);
  t.equal(ok.json.author, 'Ada Lovelace');
  const bad = await request(`${gw.url}/v1/shelves/classics/books/1`, { headers: { host: 'untrusted.test' } });
  t.equal(bad.status, 503, 'a certificate from an unknown CA: no connection');
  t.equal(bad.json.message, 'the upstream is unavailable');
  const wrong = await request(`${gw.url}/v1/shelves/classics/books/1`, { headers: { host: 'wrong-name.test' } });
  t.equal(wrong.status, 503, 'a trusted certificate for another name: no connection');
});

t.test('inline transcoding (transcoding.inlineBelowBytes) gives the same answers', async (t) => {
  const grpcServer = await startCatalogServer();
  const gw = await startGatewayProcess({
    // one pool slot and no queue: while an upload holds the slot, only inline calls can run
    transcoding: { inlineBelowBytes: 1024, workers: 1, concurrentTasksPerWorker: 1, maxQueue: 0 },
    upstreams: { catalog: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${grpcServer.port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] } } },
    routes: [{ transcode: { upstream: 'catalog' } }],
  }, 'uws');
  t.teardown(async () => { await gw.stop(); await grpcServer.close(); });
  const small = await request(`${gw.url}/v1/echo`, { method: 'POST', body: JSON.stringify({ text: 'inline', i64: '7' }) });
  t.same(small.json, { text: 'inline', i64: '7' }, 'a small body: run in the front thread');
  const big = await request(`${gw.url}/v1/echo`, { method: 'POST', body: JSON.stringify({ text: 'x'.repeat(5000) }) });
  t.equal(big.json.text.length, 5000, 'a large body: run in the pool');
  const bad = await request(`${gw.url}/v1/echo`, { method: 'POST', body: '{"nope":1}' });
  t.equal(bad.status, 400);
  t.equal(bad.json.message, 'nope: unknown field');
  t.equal((await request(`${gw.url}/v1/shelves/s/books/error-7`)).status, 403);
  const book = await request(`${gw.url}/v1/shelves/classics/books/1`);
  t.equal(book.headers['grpc-metadata-x-served-by'], 'catalog');

  // Tell inline from pool: a client-streaming upload (never inline) holds the pool's only
  // slot while its request body is open (a server stream gives its slot back once it answers).
  const upload = http.request(`${gw.url}/v1/books:import`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' } });
  const stream = new Promise<number>((resolve) => { upload.on('response', (res) => { res.resume(); res.on('end', () => resolve(res.statusCode!)); }); });
  upload.write('{"title":"held"}\n');
  await new Promise((r) => setTimeout(r, 300));
  const inline = await request(`${gw.url}/v1/echo`, { method: 'POST', body: JSON.stringify({ text: 'while the pool is busy' }) });
  t.equal(inline.status, 200, 'a small call runs inline: the busy pool does not matter');
  const pooled = await request(`${gw.url}/v1/echo`, { method: 'POST', body: JSON.stringify({ text: 'y'.repeat(2000) }) });
  t.equal(pooled.status, 503, 'a large call goes to the pool, which is full');
  t.equal(pooled.json.error.code, 'transcoding_saturated');
  // -1 is 2 bytes of JSON and 10 of protobuf: a small request whose answer message is over 1024 bytes
  const negatives = JSON.stringify({ numbers: Array(150).fill(-1) });
  const bigAnswer = await request(`${gw.url}/v1/echo`, { method: 'POST', body: negatives });
  t.equal(bigAnswer.status, 503, 'a small call with a large answer message: the call runs inline, the answer is mapped in the pool, which is full');
  upload.end();
  t.equal(await stream, 200, 'the upload itself completes');
  const mapped = await request(`${gw.url}/v1/echo`, { method: 'POST', body: negatives });
  t.equal(mapped.status, 200, mapped.body);
  t.same(mapped.json.numbers, Array(150).fill('-1'), 'the answer mapped in the pool');
  const md = (h: Record<string, unknown>) => Object.keys(h).filter((k) => k.startsWith('grpc-metadata-')).sort();
  t.ok(md(mapped.headers).length > 0, 'with the call\'s response metadata');
  t.same(md(mapped.headers), md(small.headers), 'the same metadata headers as an answer mapped inline');
});

t.test('JSON nested deeper than protobuf allows is a 400 naming the limit (inline and in the pool)', async (t) => {
  const grpcServer = await startCatalogServer();
  const gw = await startGatewayProcess({
    upstreams: { catalog: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${grpcServer.port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] } } },
    routes: [{ transcode: { upstream: 'catalog' } }],
  }, 'uws');
  t.teardown(async () => { await gw.stop(); await grpcServer.close(); });
  const nested = (depth: number) => `{"value":${'['.repeat(depth)}${']'.repeat(depth)}}`;
  const shallow = await request(`${gw.url}/v1/echo`, { method: 'POST', body: nested(40) });
  t.equal(shallow.status, 200, 'a google.protobuf.Value 40 arrays deep passes');
  // counted as protobuf counts (a JSON array in a Value is two messages): 50 arrays are 100 levels
  t.equal((await request(`${gw.url}/v1/echo`, { method: 'POST', body: nested(50) })).status, 200, '50 arrays: the limit itself passes');
  const over = await request(`${gw.url}/v1/echo`, { method: 'POST', body: nested(51) });
  t.equal(over.status, 400);
  t.match(over.json.message, /^value\[0\].*: nested deeper than 100 levels$/, '51 arrays: refused by the mapping, with the path');
  // 2,000 levels (4 KB: inline), 200,000 levels (400 KB: in the pool). Before the bound the
  // encoder's own limit came up as a 500 and a logged stack.
  for (const depth of [2000, 200_000]) {
    const r = await request(`${gw.url}/v1/echo`, { method: 'POST', body: nested(depth) });
    t.equal(r.status, 400, `${depth} levels: 400`);
    t.match(r.json.message, /nested deeper than 100 levels$/, r.body.slice(0, 200));
    t.ok(r.json.message.length < 200, 'the message stays short');
  }
  t.equal((await request(`${gw.url}/v1/echo`, { method: 'POST', body: '{"text":"after"}' })).json.text, 'after');
});

t.test('response options per route: useProtoNames, enumsAsInts, emitDefaults (pool and inline)', async (t) => {
  const grpcServer = await startCatalogServer();
  const gw = await startGatewayProcess({
    transcoding: { inlineBelowBytes: 64 },
    upstreams: { catalog: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${grpcServer.port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] } } },
    routes: [
      { name: 'raw', match: { host: 'raw.test' }, transcode: { upstream: 'catalog', useProtoNames: true, enumsAsInts: true, emitDefaults: true } },
      { name: 'lenient', match: { host: 'lenient.test' }, transcode: { upstream: 'catalog', ignoreUnknownQuery: true } },
      { name: 'json', transcode: { upstream: 'catalog' } },
    ],
  }, 'uws');
  t.teardown(async () => { await gw.stop(); await grpcServer.close(); });
  const body = JSON.stringify({ wrappedStr: 'w', genre: 'SCIENCE', renamed: 'r', text: 'x'.repeat(100) });
  const raw = await request(`${gw.url}/v1/echo`, { method: 'POST', body, headers: { host: 'raw.test' } });
  t.equal(raw.status, 200, raw.body);
  t.equal(raw.json.wrapped_str, 'w', 'proto names');
  t.equal(raw.json.renamed, 'r', 'proto name, not json_name');
  t.equal(raw.json.genre, 2, 'enum as its number');
  t.equal(raw.json.i32, 0, 'defaults emitted');
  const book = await request(`${gw.url}/v1/shelves/classics/books/1`, { headers: { host: 'raw.test' } });
  t.equal(book.json.genre, 2, 'inline calls too (a GET has no body)');
  const plain = await request(`${gw.url}/v1/echo`, { method: 'POST', body });
  t.same([plain.json.wrappedStr, plain.json.customName, plain.json.genre, plain.json.i32], ['w', 'r', 'SCIENCE', undefined], 'the other route keeps the JSON mapping defaults');

  // ignoreUnknownQuery: a cache-buster passes; a known field with a bad value is still a 400
  const list = '/v1/shelves/classics/books?page_size=1&_=123';
  const strict = await request(`${gw.url}${list}`);
  t.equal(strict.status, 400);
  t.equal(strict.json.message, 'query parameter _: unknown field "_"', 'by default an unknown query parameter is a 400 naming it');
  const lenient = await request(`${gw.url}${list}`, { headers: { host: 'lenient.test' } });
  t.equal(lenient.status, 200, lenient.body);
  t.equal(lenient.json.length, 1, 'the known parameter still applies (response_body: books)');
  const badValue = await request(`${gw.url}/v1/shelves/classics/books?page_size=many&_=1`, { headers: { host: 'lenient.test' } });
  t.equal(badValue.status, 400, 'a known field with a bad value is still refused');
});

t.test('transcoding.compressAboveBytes: large JSON answers compressed in the pool (br, then gzip)', async (t) => {
  const grpcServer = await startCatalogServer();
  const gw = await startGatewayProcess({
    transcoding: { compressAboveBytes: 1024 },
    upstreams: { catalog: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${grpcServer.port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] } } },
    routes: [{ transcode: { upstream: 'catalog' } }],
  }, 'uws');
  t.teardown(async () => { await gw.stop(); await grpcServer.close(); });
  const echo = (text: string, accept?: string) => new Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const req = http.request(`${gw.url}/v1/echo`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', ...(accept ? { 'accept-encoding': accept } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ text }));
  });
  const big = 'abc '.repeat(2000);
  const br = await echo(big, 'gzip, br');
  t.equal(br.headers['content-encoding'], 'br', 'br preferred when both are accepted');
  t.equal(br.headers.vary, 'accept-encoding');
  t.equal(JSON.parse(zlib.brotliDecompressSync(br.body).toString()).text, big);
  t.ok(br.body.length < big.length / 10, `compressed to ${br.body.length} bytes`);
  const gz = await echo(big, 'gzip;q=1, br;q=0');
  t.equal(gz.headers['content-encoding'], 'gzip', 'br refused with q=0: gzip');
  t.equal(JSON.parse(zlib.gunzipSync(gz.body).toString()).text, big);
  const none = await echo(big);
  t.equal(none.headers['content-encoding'], undefined, 'no Accept-Encoding: identity');
  t.equal(JSON.parse(none.body.toString()).text, big);
  const small = await echo('tiny', 'br, gzip');
  t.equal(small.headers['content-encoding'], undefined, 'under compressAboveBytes: identity');
  t.equal(JSON.parse(small.body.toString()).text, 'tiny');
});
