// grpc-encoding between the gateway and gRPC upstreams: an upstream with `compression:
// gzip|deflate` against a grpc-js server (which must decompress the requests or fail the
// call with INTERNAL), and at the byte level against a raw HTTP/2 server: the flag and the
// headers sent, a gzip/deflate answer read, a decompression bomb stopped at
// transcoding.maxMessageBytes, an encoding the gateway never offered refused.
import t from 'tap';
import http2 from 'node:http2';
import type net from 'node:net';
import zlib from 'node:zlib';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { request } from './helpers/client.js';
import { startCatalogServer, PROTO_DIR } from '../src/demo/catalog-service.js';
import { loadProtosCached } from '../src/transcode/proto-registry.js';
import { parseConfig, ConfigError } from '../src/config/load.js';

const catalogUpstream = (port: number, extra: Record<string, unknown> = {}) => ({
  protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] }, ...extra,
});
const routes = [{ name: 'catalog', transcode: { upstream: 'catalog' } }];

t.test('compressed requests to a grpc-js server', async (t) => {
  const server = await startCatalogServer();
  t.teardown(() => server.close());
  for (const engine of ENGINES) {
    for (const compression of [undefined, 'gzip', 'deflate'] as const) {
      await t.test(`${engine} engine, requests ${compression ?? 'uncompressed'}`, async (t) => {
        const gw = await startGatewayProcess({ upstreams: { catalog: catalogUpstream(server.port, compression ? { compression } : {}) }, routes }, engine);
        t.teardown(() => gw.stop());
        const r = await request(`${gw.url}/v1/shelves/classics/books/1`);
        t.equal(r.status, 200, r.body);
        t.equal(r.json.title, 'Sketch of the Analytical Engine');
        const created = await request(`${gw.url}/v1/shelves/classics/books`, { method: 'POST', body: JSON.stringify({ title: 'Compressed', isbn: '7' }), headers: { 'content-type': 'application/json' } });
        t.equal(created.status, 200, created.body);
        t.equal(created.json.title, 'Compressed', 'the server read the request message');
      });
    }
  }
});

t.test('byte level, against a raw HTTP/2 gRPC server', async (t) => {
  const root = loadProtosCached({ files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] }, '.');
  const Book = root.lookupType('demo.catalog.v1.Book');
  const GetBookRequest = root.lookupType('demo.catalog.v1.GetBookRequest');
  const seen: Array<{ headers: http2.IncomingHttpHeaders; flag: number; name: string }> = [];
  /** what the server answers next: the grpc-encoding header and the message bytes (compressed or not) */
  let answer: { encoding?: string; flag: number; bytes: Buffer } = { flag: 0, bytes: Buffer.alloc(0) };
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      const flag = body[0]!;
      const payload = body.subarray(5);
      const raw = flag ? (headers['grpc-encoding'] === 'gzip' ? zlib.gunzipSync(payload) : zlib.inflateSync(payload)) : payload;
      seen.push({ headers, flag, name: (GetBookRequest.decode(raw) as unknown as { name: string }).name });
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...(answer.encoding ? { 'grpc-encoding': answer.encoding } : {}) }, { waitForTrailers: true });
      const frame = Buffer.alloc(5 + answer.bytes.length);
      frame[0] = answer.flag;
      frame.writeUInt32BE(answer.bytes.length, 1);
      answer.bytes.copy(frame, 5);
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const book = Buffer.from(Book.encode(Book.fromObject({ name: 'shelves/s/books/1', title: 'Raw' })).finish());

  const gw = await startGatewayProcess({ upstreams: { catalog: catalogUpstream(port, { compression: 'gzip' }) }, routes, transcoding: { maxMessageBytes: 65536 } }, 'uws');
  t.teardown(() => gw.stop());
  const get = () => request(`${gw.url}/v1/shelves/s/books/1`);

  answer = { encoding: 'gzip', flag: 1, bytes: zlib.gzipSync(book) };
  let r = await get();
  t.equal(r.status, 200, r.body);
  t.equal(r.json.title, 'Raw', 'a gzip answer is read');
  const sent = seen.at(-1)!;
  t.equal(sent.flag, 1, 'the request message carries the compressed flag');
  t.equal(sent.headers['grpc-encoding'], 'gzip');
  t.equal(sent.headers['grpc-accept-encoding'], 'gzip, deflate', 'the gateway offers what it reads');
  t.equal(sent.name, 'shelves/s/books/1', 'and it decompresses to the request');

  answer = { encoding: 'deflate', flag: 1, bytes: zlib.deflateSync(book) };
  r = await get();
  t.equal(r.json.title, 'Raw', 'a deflate answer is read');

  answer = { encoding: 'gzip', flag: 0, bytes: book };
  r = await get();
  t.equal(r.json.title, 'Raw', 'an uncompressed message under grpc-encoding: gzip is read as is (the flag decides)');

  // 10 MB of zeros are 10 KB of gzip: inflating stops at maxMessageBytes (64 KB)
  answer = { encoding: 'gzip', flag: 1, bytes: zlib.gzipSync(Buffer.alloc(10 * 1024 * 1024)) };
  r = await get();
  t.equal(r.status, 429, 'RESOURCE_EXHAUSTED: the bomb is stopped at the cap');
  t.match(r.json.message, /over 65536 bytes once decompressed/);

  answer = { encoding: 'snappy', flag: 1, bytes: book };
  r = await get();
  t.equal(r.status, 500, 'an encoding the gateway did not offer is INTERNAL');
  t.match(r.json.message, /compressed with "snappy"/);

  answer = { flag: 1, bytes: book };
  r = await get();
  t.equal(r.status, 500, 'the compressed flag without grpc-encoding is INTERNAL');

  answer = { encoding: 'gzip', flag: 1, bytes: Buffer.from('not gzip at all') };
  r = await get();
  t.equal(r.status, 500);
  t.match(r.json.message, /does not decompress/);

  answer = { encoding: 'gzip', flag: 1, bytes: zlib.gzipSync(book) };
  t.equal((await get()).status, 200, 'the channel still serves');
});

t.test('compression is for grpc upstreams only', async (t) => {
  const problems = (yaml: string) => { try { parseConfig(yaml); return []; } catch (e) { return e instanceof ConfigError ? e.problems : [String(e)]; } };
  t.ok(problems('upstreams: { a: { targets: [{ url: "http://127.0.0.1:1" }], compression: gzip } }\nroutes: [{ match: { prefix: / }, upstream: a }]').includes('upstreams.a.compression: only used with protocol: grpc'));
  t.throws(() => parseConfig('upstreams: { a: { targets: [{ url: "http://127.0.0.1:1" }], compression: br } }\nroutes: [{ match: { prefix: / }, upstream: a }]'), /upstreams\.a\.compression: must be one of "gzip", "deflate"/);
});
