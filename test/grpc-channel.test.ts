// The two gRPC channels (upstreams.NAME.http2.client: gateway, the default, and node) give
// the same answers for the same calls to a real grpc-js server: messages, metadata, statuses
// (OK, trailers-only errors, details), deadlines, cancellation, streaming, no server.
import t from 'tap';
import net from 'node:net';
import { startCatalogServer } from '../src/demo/catalog-service.js';
import { grpcChannel } from '../src/transcode/grpc-channel.js';
import { DEFAULT_H2 } from '../src/transcode/grpc-h2-client.js';
import type { GrpcStatus } from '../src/transcode/grpc-wire.js';

const str = (field: number, s: string) => { const b = Buffer.from(s); return Buffer.concat([Buffer.from([(field << 3) | 2, b.length]), b]); };
const getBook = (name: string) => str(1, name);
const listBooks = (shelf: string, pageSize: number) => Buffer.concat([str(1, shelf), Buffer.from([2 << 3, pageSize])]);
const PKG = '/demo.catalog.v1.Catalog';

interface Outcome { code: number; details: string; messages: number; headers: Array<[string, string]>; detailsBin: boolean; metadata: string[] }

t.test('both channels answer alike', async (t) => {
  const server = await startCatalogServer();
  t.teardown(() => server.close());
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const deadPort = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));

  const results: Record<string, Record<string, Outcome>> = {};
  const cancels: Record<string, number> = {};
  for (const client of ['gateway', 'node'] as const) {
    const ch = grpcChannel(`grpc://127.0.0.1:${server.port}`, undefined, 4 << 20, undefined, { ...DEFAULT_H2, client });
    const dead = grpcChannel(`grpc://127.0.0.1:${deadPort}`, undefined, 4 << 20, undefined, { ...DEFAULT_H2, client });
    const run = (c: typeof ch, method: string, req: Buffer, deadlineMs = 5000, cancelAfterMs?: number) => new Promise<Outcome>((resolve) => {
      const o: Outcome = { code: -1, details: '', messages: 0, headers: [], detailsBin: false, metadata: [] };
      const call = c.call(`${PKG}/${method}`, req, [['x-request-id', `${client}-${method}`]], Date.now() + deadlineMs, {
        onHeaders: (h) => { o.headers = h; },
        onMessage: () => { o.messages++; },
        onEnd: (st: GrpcStatus) => { Object.assign(o, { code: st.code, details: st.details, detailsBin: !!st.detailsBin, metadata: st.metadata.map(([k]) => k) }); resolve(o); },
      });
      if (cancelAfterMs !== undefined) setTimeout(() => call.cancel(), cancelAfterMs);
    });
    const cancelledBefore = server.cancelledIds.length;
    results[client] = {
      ok: await run(ch, 'GetBook', getBook('shelves/classics/books/1')),
      notFound: await run(ch, 'GetBook', getBook('shelves/classics/books/missing')),
      withDetails: await run(ch, 'GetBook', getBook('shelves/classics/books/error-3')),
      stream: await run(ch, 'WatchShelf', listBooks('classics', 5)),
      unimplemented: await run(ch, 'NoSuchMethod', Buffer.alloc(0)),
      deadline: await run(ch, 'GetBook', getBook('shelves/classics/books/slow'), 200),
      cancelled: await run(ch, 'GetBook', getBook('shelves/classics/books/slow'), 5000, 100),
      noServer: await run(dead, 'GetBook', getBook('x')),
    };
    const seen = () => server.cancelledIds.slice(cancelledBefore).filter((id) => id === `${client}-GetBook`).length;
    for (let i = 0; i < 50 && seen() < 2; i++) await new Promise((r) => setTimeout(r, 20));
    cancels[client] = seen();
    ch.close();
    dead.close();
  }
  const g = results.gateway!, n = results.node!;
  t.match(g.ok, { code: 0, messages: 1, headers: [['x-served-by', 'catalog']] }, 'OK, one message, the response metadata');
  t.match(g.notFound, { code: 5, messages: 0, details: 'book "shelves/classics/books/missing" not found' }, 'a trailers-only error');
  t.match(g.withDetails, { code: 3, detailsBin: true, details: 'error 3 requested' }, 'grpc-status-details-bin');
  t.match(g.stream, { code: 0, messages: 5 }, 'server streaming');
  t.match(g.unimplemented, { code: 12 });
  t.match(g.deadline, { code: 4 }, 'the deadline');
  t.match(g.cancelled, { code: 1 }, 'a cancel');
  t.match(g.noServer, { code: 14 }, 'no server: UNAVAILABLE');
  t.equal(cancels.gateway, 2, 'the server saw the deadline and the cancel as cancelled GetBook calls');
  t.same(g, n, 'the node:http2 channel answers the same');
  t.same(cancels.node, cancels.gateway);
});
