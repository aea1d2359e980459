// gRPC-Web through the gateway to a real grpc-js server, both engines: a real gRPC-Web
// client (@connectrpc/connect-node's gRPC-Web transport, descriptors from a
// FileDescriptorSet) for unary, server streaming, errors with details and metadata; and
// hand-built frames for the wire details: the trailers frame, trailers-only errors,
// -text mode with padding inside the body, broken frames, unknown methods.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient, ConnectError, Code } from '@connectrpc/connect';
import { createGrpcWebTransport } from '@connectrpc/connect-node';
import { createFileRegistry, fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { startCatalogServer, PROTO_DIR } from '../src/demo/catalog-service.js';
import { loadProtos } from '../src/transcode/proto-registry.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, '..', '..', 'test', 'fixtures', 'descriptors');
const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(join(fixtures, 'catalog.binpb'))));
const Catalog = registry.getService('demo.catalog.v1.Catalog')!;

const root = loadProtos({ files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] }, '.');
const GetBookRequest = root.lookupType('demo.catalog.v1.GetBookRequest');
const Book = root.lookupType('demo.catalog.v1.Book');

function frame(flag: number, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(5 + payload.length);
  b[0] = flag;
  b.writeUInt32BE(payload.length, 1);
  b.set(payload, 5);
  return b;
}

/** Splits a gRPC-Web answer into message payloads and the parsed trailers. */
function frames(body: Buffer): { messages: Buffer[]; trailers: Record<string, string> | null; after: number } {
  const messages: Buffer[] = [];
  let trailers: Record<string, string> | null = null;
  let at = 0, after = 0;
  while (at + 5 <= body.length) {
    const flag = body[at]!, len = body.readUInt32BE(at + 1);
    const payload = body.subarray(at + 5, at + 5 + len);
    at += 5 + len;
    if (trailers) after++;
    if (flag & 0x80) {
      trailers = {};
      for (const line of payload.toString().split('\r\n')) {
        if (!line) continue;
        const i = line.indexOf(':');
        trailers[line.slice(0, i)] = line.slice(i + 1).trim();
      }
    } else messages.push(payload);
  }
  return { messages, trailers, after };
}

const getBook = (name: string) => frame(0, GetBookRequest.encode({ name }).finish());

t.test('gRPC-Web', async (t) => {
  const grpcServer = await startCatalogServer();
  t.teardown(() => grpcServer.close());
  for (const engine of ENGINES) {
    await t.test(`${engine} engine`, async (t) => {
      const gw = await startGatewayProcess({
        upstreams: { catalog: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${grpcServer.port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] } } },
        routes: [{ name: 'catalog', transcode: { upstream: 'catalog', grpcWeb: true, forwardHeaders: ['x-tenant'] }, cors: { origins: ['https://app.example'] } }],
      }, engine);
      t.teardown(() => gw.stop());
      // the service comes from descriptors at run time, so its methods are typed here
      type Unary = (req: Record<string, unknown>, opts?: { headers?: Record<string, string>; onHeader?: (h: Headers) => void }) => Promise<Record<string, unknown>>;
      type Streaming = (req: Record<string, unknown>) => AsyncIterable<Record<string, unknown>>;
      const client = createClient(Catalog, createGrpcWebTransport({ baseUrl: gw.url, httpVersion: '1.1' })) as unknown as { getBook: Unary; watchShelf: Streaming };

      await t.test('a real gRPC-Web client: unary, metadata both ways', async (t) => {
        let headers: Headers | undefined;
        const book = await client.getBook({ name: 'shelves/classics/books/1' }, { headers: { authorization: 'Bearer abc', 'x-tenant': 't1' }, onHeader: (h) => { headers = h; } });
        t.equal((book as unknown as { title: string }).title, 'Sketch of the Analytical Engine');
        const call = [...grpcServer.calls].reverse().find((c) => c.method === 'GetBook')!;
        t.same([call.metadata.authorization, call.metadata['x-tenant']], ['Bearer abc', 't1'], 'authorization and forwarded headers reach the server as metadata');
        t.match(headers?.get('content-type') ?? '', /^application\/grpc-web/);
      });

      await t.test('a real client: server streaming, and a stream that fails after two messages', async (t) => {
        const pages: number[] = [];
        for await (const b of client.watchShelf({ shelf: 'classics', pageSize: 4 })) pages.push((b as unknown as { pages: number }).pages);
        t.equal(pages.length, 4, 'four books streamed');
        const got: unknown[] = [];
        const err = await (async () => { try { for await (const b of client.watchShelf({ shelf: 'broken', pageSize: 5 })) got.push(b); } catch (e) { return e; } return null; })();
        t.equal(got.length, 2, 'the two messages before the failure arrive');
        t.ok(err instanceof ConnectError && err.code !== Code.Unknown, `the stream's status arrives in the trailers (${(err as Error)?.message})`);
      });

      await t.test('a real client: errors keep their code, message and details', async (t) => {
        const missing = await client.getBook({ name: 'shelves/classics/books/missing' }).then(() => null, (e: unknown) => e);
        t.ok(missing instanceof ConnectError, 'an error');
        t.equal((missing as ConnectError).code, Code.NotFound);
        t.match((missing as ConnectError).rawMessage, /not found/);
        const invalid = await client.getBook({ name: 'shelves/classics/books/error-3' }).then(() => null, (e: unknown) => e) as ConnectError;
        t.equal(invalid.code, Code.InvalidArgument);
        t.ok(invalid.details.length >= 2, `google.rpc.Status details arrive (${invalid.details.length})`);
      });

      await t.test('wire: messages, then the trailers frame', async (t) => {
        const res = await fetch(`${gw.url}/demo.catalog.v1.Catalog/GetBook`, { method: 'POST', headers: { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' }, body: new Uint8Array(getBook('shelves/classics/books/2')) });
        t.equal(res.status, 200);
        t.equal(res.headers.get('content-type'), 'application/grpc-web+proto');
        const f = frames(Buffer.from(await res.arrayBuffer()));
        t.equal(f.messages.length, 1);
        t.equal((Book.decode(f.messages[0]!) as unknown as { title: string }).title, 'On Computable Numbers');
        t.equal(f.trailers?.['grpc-status'], '0');
        t.equal(f.after, 0, 'nothing after the trailers');
      });

      await t.test('wire: a trailers-only error is a trailers frame in the body (the status is not lost)', async (t) => {
        const res = await fetch(`${gw.url}/demo.catalog.v1.Catalog/GetBook`, { method: 'POST', headers: { 'content-type': 'application/grpc-web' }, body: new Uint8Array(getBook('shelves/x/books/missing')) });
        t.equal(res.status, 200);
        const f = frames(Buffer.from(await res.arrayBuffer()));
        t.equal(f.messages.length, 0);
        t.equal(f.trailers?.['grpc-status'], '5');
        t.equal(decodeURIComponent(f.trailers?.['grpc-message'] ?? ''), 'book "shelves/x/books/missing" not found', 'grpc-message percent-encoded');
      });

      await t.test('wire: -text mode, base64 padded inside the body, answered in base64', async (t) => {
        const bytes = getBook('shelves/classics/books/1');
        // two flushes, each padded: "…=" in the middle of the body
        const body = bytes.subarray(0, 4).toString('base64') + bytes.subarray(4).toString('base64');
        t.match(body, /=.+/, 'padding inside the body');
        const res = await fetch(`${gw.url}/demo.catalog.v1.Catalog/GetBook`, { method: 'POST', headers: { 'content-type': 'application/grpc-web-text' }, body });
        t.equal(res.headers.get('content-type'), 'application/grpc-web-text');
        const text = await res.text();
        t.match(text, /^[A-Za-z0-9+/=]+$/, 'the answer is base64');
        const f = frames(Buffer.from(text, 'base64'));
        t.equal((Book.decode(f.messages[0]!) as unknown as { author: string }).author, 'Ada Lovelace');
        t.equal(f.trailers?.['grpc-status'], '0');
      });

      await t.test('wire: an unknown method, broken frames, two messages: gRPC statuses, no call', async (t) => {
        const before = grpcServer.calls.length;
        const ask = async (path: string, body: Buffer | string, type = 'application/grpc-web+proto') => {
          const res = await fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': type }, body: typeof body === 'string' ? body : new Uint8Array(body) });
          return { status: res.status, f: frames(Buffer.from(await res.arrayBuffer())) };
        };
        const unknown = await ask('/demo.catalog.v1.Catalog/Nope', getBook('a'));
        t.same([unknown.status, unknown.f.trailers?.['grpc-status']], [200, '12'], 'UNIMPLEMENTED');
        const truncated = await ask('/demo.catalog.v1.Catalog/GetBook', getBook('shelves/a/books/1').subarray(0, 8));
        t.equal(truncated.f.trailers?.['grpc-status'], '13', 'a truncated frame: INTERNAL');
        const two = await ask('/demo.catalog.v1.Catalog/GetBook', Buffer.concat([getBook('a'), getBook('b')]));
        t.equal(two.f.trailers?.['grpc-status'], '13', 'two messages for a unary method: INTERNAL');
        const compressed = await ask('/demo.catalog.v1.Catalog/GetBook', Buffer.from([1, 0, 0, 0, 0]));
        t.equal(compressed.f.trailers?.['grpc-status'], '12', 'a compressed message: UNIMPLEMENTED');
        const notBase64 = await ask('/demo.catalog.v1.Catalog/GetBook', '!!!!', 'application/grpc-web-text');
        t.equal(notBase64.f.trailers?.['grpc-status'], undefined, 'the answer of a -text call is base64 itself');
        t.equal(grpcServer.calls.length, before, 'none of them reached the server');
        const res = await fetch(`${gw.url}/demo.catalog.v1.Catalog/GetBook`, { method: 'GET', headers: { 'content-type': 'application/grpc-web' } });
        t.equal(res.status, 405, 'gRPC-Web is POST');
        await res.arrayBuffer();
      });

      await t.test('browsers: the preflight allows the gRPC-Web headers, answers expose the status headers', async (t) => {
        const pre = await fetch(`${gw.url}/demo.catalog.v1.Catalog/GetBook`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-grpc-web,x-user-agent,grpc-timeout' } });
        t.equal(pre.status, 204, 'preflight allowed without listing the gRPC-Web headers');
        t.match(pre.headers.get('access-control-allow-headers') ?? '', /x-grpc-web/);
        await pre.arrayBuffer();
        const res = await fetch(`${gw.url}/demo.catalog.v1.Catalog/GetBook`, { method: 'POST', headers: { origin: 'https://app.example', 'content-type': 'application/grpc-web+proto' }, body: new Uint8Array(getBook('shelves/classics/books/1')) });
        t.equal(res.headers.get('access-control-allow-origin'), 'https://app.example');
        t.same((res.headers.get('access-control-expose-headers') ?? '').split(/,\s*/).sort(), ['grpc-message', 'grpc-status', 'grpc-status-details-bin']);
        await res.arrayBuffer();
      });

      await t.test('the route still transcodes REST/JSON', async (t) => {
        const res = await fetch(`${gw.url}/v1/shelves/classics/books/1`);
        t.equal(res.status, 200);
        t.equal(((await res.json()) as { author: string }).author, 'Ada Lovelace');
      });
    });
  }
});
