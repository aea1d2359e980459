// The grpc-websockets mode of the WebSocket ⇄ gRPC bridge with the real client that defined
// it: @improbable-eng/grpc-web's WebsocketTransport (the `ws` package stands in for the
// browser's WebSocket), against the demo grpc-js server, both engines: bidi, server and
// client streaming, a status with its message, metadata, and a cancel reaching the server.
import t from 'tap';
import { WebSocket } from 'ws';
import protobuf from 'protobufjs';
import improbable from '@improbable-eng/grpc-web';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { startCatalogServer, PROTO_DIR } from '../src/demo/catalog-service.js';

const { grpc } = improbable; // a CommonJS bundle: no named exports for ESM
type Client = ReturnType<typeof grpc.client>;
type Method = Parameters<typeof grpc.client>[0];
type Metadata = InstanceType<typeof grpc.Metadata>;

// the transport opens `new WebSocket(url, ["grpc-websockets"])` on the global
(globalThis as { WebSocket?: unknown }).WebSocket = WebSocket;

/** A protobufjs type as the generated google-protobuf classes the client expects. */
function messageClass(type: protobuf.Type) {
  class Message {
    constructor(readonly value: Record<string, unknown>) {}
    serializeBinary(): Uint8Array { return type.encode(type.fromObject(this.value)).finish(); }
    toObject(): Record<string, unknown> { return this.value; }
    static deserializeBinary(bytes: Uint8Array): Message { return new Message(type.toObject(type.decode(bytes), { longs: String }) as Record<string, unknown>); }
  }
  return Message;
}

type Msg = Parameters<Client['send']>[0];
interface Outcome { code: number; message: string; messages: Array<Record<string, unknown>>; headers: Metadata | null; trailers: Metadata }

t.test('grpc-websockets with @improbable-eng/grpc-web', async (t) => {
  const grpcServer = await startCatalogServer();
  t.teardown(() => grpcServer.close());
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => `${PROTO_DIR}/${target}`;
  await root.load('demo/catalog.proto');
  const type = (name: string) => messageClass(root.lookupType(`demo.catalog.v1.${name}`));
  const Note = type('Note'), Book = type('Book'), ImportSummary = type('ImportSummary'), ListBooksRequest = type('ListBooksRequest'), GetBookRequest = type('GetBookRequest');
  const service = { serviceName: 'demo.catalog.v1.Catalog' };
  const method = (methodName: string, requestStream: boolean, responseStream: boolean, requestType: unknown, responseType: unknown) =>
    ({ methodName, service, requestStream, responseStream, requestType, responseType }) as unknown as Method;
  const Discuss = method('Discuss', true, true, Note, Note);
  const WatchShelf = method('WatchShelf', false, true, ListBooksRequest, Book);
  const ImportBooks = method('ImportBooks', true, false, Book, ImportSummary);
  const GetBook = method('GetBook', false, false, GetBookRequest, Book);

  for (const engine of ENGINES) {
    await t.test(`${engine} engine`, async (t) => {
      const gw = await startGatewayProcess({
        upstreams: { catalog: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${grpcServer.port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] } } },
        routes: [{ name: 'catalog', match: { prefix: '/' }, transcode: { upstream: 'catalog', websocket: true } }],
      }, engine);
      t.teardown(() => gw.stop());

      /** Runs one call: `drive` sends on the started client; resolves at onEnd. */
      const call = (m: Method, metadata: Record<string, string>, drive: (c: Client) => void) =>
        new Promise<Outcome>((resolve) => {
          const c = grpc.client(m, { host: gw.url, transport: grpc.WebsocketTransport() });
          const messages: Outcome['messages'] = [];
          let headers: Metadata | null = null;
          c.onHeaders((h) => { headers = h; });
          c.onMessage((msg) => { messages.push((msg as unknown as { toObject(): Record<string, unknown> }).toObject()); });
          c.onEnd((code, message, trailers) => resolve({ code, message, messages, headers, trailers }));
          c.start(metadata);
          drive(c);
        });

      await t.test('bidi: every note answered, then OK; metadata reaches the server', async (t) => {
        const r = await call(Discuss, { authorization: 'Bearer improbable' }, (c) => {
          for (let i = 1; i <= 3; i++) c.send(new Note({ text: `note ${i}`, seq: i }) as unknown as Msg);
          c.finishSend();
        });
        t.equal(r.code, grpc.Code.OK);
        t.same(r.messages, [1, 2, 3].map((i) => ({ text: `NOTE ${i}`, seq: i })));
        t.ok(r.headers, 'the header frame was read as the response headers');
        t.same(r.headers!.get('content-type'), ['application/grpc-web+proto']);
        t.same(r.trailers.get('grpc-status'), ['0']);
        t.equal(grpcServer.calls.filter((c) => c.method === 'Discuss').at(-1)?.metadata.authorization, 'Bearer improbable');
      });

      await t.test('server streaming with grpc.invoke', async (t) => {
        const r = await new Promise<Outcome>((resolve) => {
          const messages: Outcome['messages'] = [];
          grpc.invoke(WatchShelf, {
            host: gw.url, transport: grpc.WebsocketTransport(), request: new ListBooksRequest({ shelf: 'fiction', pageSize: 3 }) as unknown as Msg,
            onMessage: (msg) => { messages.push((msg as unknown as { toObject(): Record<string, unknown> }).toObject()); },
            onEnd: (code, message, trailers) => resolve({ code, message, messages, headers: null, trailers }),
          });
        });
        t.equal(r.code, grpc.Code.OK);
        t.equal(r.messages.length, 3);
        t.match(r.messages[0], { name: /^shelves\/\w+\/books\/\d+$/, title: String });
        t.match(grpcServer.calls.filter((c) => c.method === 'WatchShelf').at(-1)?.request, { shelf: 'fiction' }, 'the request message as sent');
      });

      await t.test('client streaming: one summary after finishSend', async (t) => {
        const r = await call(ImportBooks, {}, (c) => {
          for (let i = 0; i < 5; i++) c.send(new Book({ title: `Book ${i}`, pages: 10 }) as unknown as Msg);
          c.finishSend();
        });
        t.equal(r.code, grpc.Code.OK);
        t.same(r.messages, [{ count: 5, pages: '50', firstTitle: 'Book 0', lastTitle: 'Book 4' }]);
      });

      await t.test('a status other than OK reaches the client with its message', async (t) => {
        const r = await call(GetBook, {}, (c) => { c.send(new GetBookRequest({ name: 'shelves/1/books/missing' }) as unknown as Msg); c.finishSend(); });
        t.equal(r.code, grpc.Code.NotFound);
        t.match(r.message, /book/);
        t.same(r.messages, []);
      });

      await t.test('close() mid-stream cancels the call on the server', async (t) => {
        const cancelled = grpcServer.cancelled;
        const c = grpc.client(Discuss, { host: gw.url, transport: grpc.WebsocketTransport() });
        const first = new Promise<void>((resolve) => c.onMessage(() => resolve()));
        c.start({});
        c.send(new Note({ text: 'then I leave', seq: 1 }) as unknown as Msg);
        await first;
        c.close();
        for (let i = 0; i < 100 && grpcServer.cancelled === cancelled; i++) await new Promise((r) => setTimeout(r, 30));
        t.equal(grpcServer.cancelled, cancelled + 1, 'the server saw CANCELLED');
      });
    });
  }
});
