// The demo gRPC service (demo.catalog.v1.Catalog) on a real grpc-js server, loaded with
// @grpc/proto-loader: what `npm start` puts behind the REST/JSON transcoding routes, and
// what the transcoding tests and benchmark call. Some book names trigger behaviours:
//   .../books/missing → NOT_FOUND; .../books/error-N → gRPC status N (with a detail);
//   .../books/slow → answers after 3 s (deadlines); shelf "fast" streams as fast as
//   flow control allows, "slow" one message per 100 ms, "broken" fails after two;
//   ImportBooks stops reading for 1.5 s after a first book titled "slow".
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { join } from 'node:path';
import { BUNDLED_PROTO_DIR } from '../transcode/bundled-protos.js';

/** the repository's protos/ (the demo proto and google/api) */
export const PROTO_DIR = BUNDLED_PROTO_DIR;

interface Book { name: string; title: string; author: string; genre: string; isbn: string; published?: { seconds: string; nanos: number }; tags: string[]; pages: number }

const BOOKS: Book[] = [
  { name: 'shelves/classics/books/1', title: 'Sketch of the Analytical Engine', author: 'Ada Lovelace', genre: 'SCIENCE', isbn: '9780000000001', published: { seconds: '-3976819200', nanos: 0 }, tags: ['computing'], pages: 66 },
  { name: 'shelves/classics/books/2', title: 'On Computable Numbers', author: 'Alan Turing', genre: 'SCIENCE', isbn: '9780000000002', tags: [], pages: 36 },
];

export interface CatalogServer {
  server: grpc.Server; port: number; calls: Array<{ method: string; metadata: Record<string, unknown>; request: unknown }>;
  cancelled: number;
  /** x-request-id of each cancelled call (tests tell their own cancel from another's) */
  cancelledIds: string[];
  streamed: number; close(): Promise<void>;
}

let rpcRoot: protobuf.Root | undefined;

/** google.rpc.Status { code, message, details: [Any(demo.catalog.v1.Nested), Any(google.rpc.ErrorInfo), and
 * for INVALID_ARGUMENT a BadRequest, for UNAVAILABLE a RetryInfo] } */
function detailsFor(code: number): Buffer {
  const root = protobuf.Root.fromJSON({ nested: { S: { fields: { code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 }, details: { rule: 'repeated', type: 'A', id: 3 } } }, A: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } }, N: { fields: { value: { type: 'string', id: 1 } } } } });
  const rpc = (rpcRoot ??= protobuf.loadSync(join(PROTO_DIR, 'google', 'rpc', 'error_details.proto')));
  const any = (name: string, fields: Record<string, unknown>) => ({ type_url: `type.googleapis.com/${name}`, value: rpc.lookupType(name).encode(rpc.lookupType(name).fromObject(fields)).finish() });
  const details = [
    { type_url: 'type.googleapis.com/demo.catalog.v1.Nested', value: root.lookupType('N').encode({ value: `detail for ${code}` }).finish() },
    any('google.rpc.ErrorInfo', { reason: `CODE_${code}`, domain: 'catalog.example.com', metadata: { code: String(code) } }),
  ];
  if (code === 3) details.push(any('google.rpc.BadRequest', { fieldViolations: [{ field: 'book.title', description: 'must not be empty' }] }));
  if (code === 14) details.push(any('google.rpc.RetryInfo', { retryDelay: { seconds: 1, nanos: 500_000_000 } }));
  return Buffer.from(root.lookupType('S').encode({ code, message: `error ${code}`, details }).finish());
}

/** `credentials`: TLS for the grpcs tests (insecure by default); `extend` adds services (reflection, health) before it binds. */
export async function startCatalogServer(port = 0, credentials = grpc.ServerCredentials.createInsecure(), extend?: (server: grpc.Server, def: protoLoader.PackageDefinition) => void): Promise<CatalogServer> {
  const def = protoLoader.loadSync('demo/catalog.proto', { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: false, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { demo: { catalog: { v1: { Catalog: grpc.ServiceClientConstructor } } } };
  const state: Omit<CatalogServer, 'close' | 'server' | 'port'> = { calls: [], cancelled: 0, cancelledIds: [], streamed: 0 };
  const cancelledBy = (call: { metadata: grpc.Metadata }) => { state.cancelled++; state.cancelledIds.push(String(call.metadata.get('x-request-id')[0] ?? '')); };
  const record = (method: string, call: { metadata: grpc.Metadata; request?: unknown }) => {
    if (state.calls.length > 1000) state.calls.shift();
    state.calls.push({ method, metadata: call.metadata.getMap(), request: call.request });
  };
  const fail = (code: number, message: string, withDetails = false): grpc.ServiceError => {
    const md = new grpc.Metadata();
    if (withDetails) md.set('grpc-status-details-bin', detailsFor(code));
    return Object.assign(new Error(message), { code, details: message, metadata: md });
  };
  const find = (name: string, cb: grpc.sendUnaryData<unknown>): Book | null => {
    if (name.endsWith('/missing')) { cb(fail(grpc.status.NOT_FOUND, `book "${name}" not found`)); return null; }
    const m = /\/error-(\d+)$/.exec(name);
    if (m) { cb(fail(Number(m[1]), `error ${m[1]} requested`, true)); return null; }
    return BOOKS.find((b) => b.name === name) ?? { ...BOOKS[0]!, name };
  };
  const server = new grpc.Server();
  server.addService(pkg.demo.catalog.v1.Catalog.service, {
    GetBook: (call: grpc.ServerUnaryCall<{ name: string }, Book>, cb: grpc.sendUnaryData<Book>) => {
      record('GetBook', call);
      if (call.request.name.endsWith('/slow')) {
        const t = setTimeout(() => cb(null, BOOKS[0]!), 3000);
        call.on('cancelled', () => { clearTimeout(t); cancelledBy(call); });
        return;
      }
      const book = find(call.request.name, cb as grpc.sendUnaryData<unknown>);
      if (!book) return;
      const md = new grpc.Metadata();
      md.set('x-served-by', 'catalog');
      call.sendMetadata(md);
      cb(null, book);
    },
    ListBooks: (call: grpc.ServerUnaryCall<{ shelf: string; page_size?: number; genre?: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      record('ListBooks', call);
      const books = BOOKS.filter((b) => b.name.startsWith(`shelves/${call.request.shelf}/`)).slice(0, call.request.page_size || undefined);
      cb(null, { books, next_page_token: '' });
    },
    CreateBook: (call: grpc.ServerUnaryCall<{ shelf: string; book: Book }, Book>, cb: grpc.sendUnaryData<Book>) => {
      record('CreateBook', call);
      cb(null, { ...call.request.book, name: `shelves/${call.request.shelf}/books/new` });
    },
    UpdateBook: (call: grpc.ServerUnaryCall<{ book: Book; update_mask?: { paths: string[] } }, Book>, cb: grpc.sendUnaryData<Book>) => {
      record('UpdateBook', call);
      cb(null, { ...call.request.book, tags: call.request.update_mask?.paths ?? [] });
    },
    GetCover: (call: grpc.ServerUnaryCall<{ name: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      record('GetCover', call);
      if (!find(call.request.name, cb)) return;
      cb(null, { content_type: 'image/svg+xml', data: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg"><title>${call.request.name}</title></svg>`) });
    },
    SetCover: (call: grpc.ServerUnaryCall<{ name: string; cover?: { content_type: string; data: Buffer } }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      record('SetCover', call);
      cb(null, { content_type: call.request.cover?.content_type ?? '', data: call.request.cover?.data ?? Buffer.alloc(0) });
    },
    StreamCover: (call: grpc.ServerWritableStream<{ name: string }, unknown>) => {
      record('StreamCover', call);
      for (let i = 0; i < 3; i++) call.write({ content_type: 'application/octet-stream', data: Buffer.from([i, 0xff, i]) });
      call.end();
    },
    SetTags: (call: grpc.ServerUnaryCall<{ name: string; tags: string[] }, Book>, cb: grpc.sendUnaryData<Book>) => {
      record('SetTags', call);
      const book = find(call.request.name, cb as grpc.sendUnaryData<unknown>);
      if (book) cb(null, { ...book, tags: call.request.tags ?? [] });
    },
    DeleteBook: (call: grpc.ServerUnaryCall<{ name: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      record('DeleteBook', call);
      cb(null, {});
    },
    WatchShelf: (call: grpc.ServerWritableStream<{ shelf: string; page_size?: number }, Book>) => {
      record('WatchShelf', call);
      const n = call.request.page_size || 3;
      let i = 0;
      let cancelled = false;
      call.on('cancelled', () => { cancelled = true; cancelledBy(call); });
      if (call.request.shelf === 'fast') {
        // As fast as the client takes them: write until HTTP/2 flow control says stop.
        const pump = () => {
          while (!cancelled && i < n) {
            state.streamed++;
            if (!call.write({ ...BOOKS[0]!, pages: i++ })) { call.once('drain', pump); return; }
          }
          if (!cancelled) call.end();
        };
        pump();
        return;
      }
      const next = () => {
        if (cancelled) return;
        if (i === n) { call.end(); return; }
        if (call.request.shelf === 'broken' && i === 2) { call.emit('error', fail(grpc.status.INTERNAL, 'the shelf broke')); return; }
        call.write({ ...BOOKS[i % BOOKS.length]!, pages: i++ });
        setTimeout(next, call.request.shelf === 'slow' ? 100 : 0);
      };
      next();
    },
    Echo: (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      record('Echo', call);
      const md = new grpc.Metadata();
      for (const k of ['authorization', 'x-request-id', 'traceparent', 'x-consumer-id', 'x-tenant']) {
        const v = call.metadata.get(k)[0];
        if (v !== undefined) md.set(`echo-${k}`, String(v));
      }
      call.sendMetadata(md);
      cb(null, call.request);
    },
    Ping: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => { record('Ping', call); cb(null, {}); },
    ImportBooks: (call: grpc.ServerReadableStream<Book, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      record('ImportBooks', call);
      let count = 0, pages = 0, first = '', last = '';
      call.on('data', (b: Book) => {
        count++; pages += b.pages || 0; if (count === 1) first = b.title; last = b.title; state.streamed++;
        // a first book titled "slow": the server stops reading for 1.5 s (backpressure tests)
        if (count === 1 && b.title === 'slow') { call.pause(); setTimeout(() => call.resume(), 1500); }
      });
      call.on('cancelled', () => cancelledBy(call));
      call.on('end', () => cb(null, { count, pages: String(pages), first_title: first, last_title: last }));
    },
    Discuss: (call: grpc.ServerDuplexStream<{ text: string; seq: number }, unknown>) => {
      record('Discuss', call);
      call.on('data', (n: { text: string; seq: number }) => { call.write({ text: n.text.toUpperCase(), seq: n.seq }); });
      call.on('cancelled', () => cancelledBy(call));
      call.on('end', () => call.end());
    },
  });
  extend?.(server, def);
  const bound = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, credentials, (e, p) => (e ? reject(e) : resolve(p))));
  return {
    ...state,
    get calls() { return state.calls; },
    get cancelled() { return state.cancelled; },
    get cancelledIds() { return state.cancelledIds; },
    get streamed() { return state.streamed; },
    server,
    port: bound,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  } as CatalogServer;
}
