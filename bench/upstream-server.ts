// The benchmark upstream: a uWS server (~200k req/s here, so it is never the bottleneck)
// answering GET /small (~100 B JSON), GET /kb (~1 KB JSON) and GET /large (64 KB). Prints its port on stdout.
// DELAY_MS=n makes every answer n ms late (the "slow target" scenario).
import { loadNativeUws } from '../src/server/uws-loader.js';

const uws = loadNativeUws();
const small = JSON.stringify({ id: 42, name: 'benchmark', tags: ['a', 'b', 'c'], ok: true, ts: 1700000000000, note: 'small' });
const large = Buffer.alloc(64 * 1024, 'x');
/** ~1 KB of JSON: the aggregate benchmark's HTTP backends */
const kb = JSON.stringify({ id: 42, name: 'benchmark', items: Array.from({ length: 12 }, (_, i) => ({ id: i, sku: `sku-${i}-abcdef`, qty: i + 1, price: 9.99 + i, note: 'in stock' })) });
const app = uws.App();
const delay = Number(process.env.DELAY_MS ?? 0);
const later = (res: import('uWebSockets.js').HttpResponse, send: () => void) => {
  if (!delay) { res.cork(send); return; }
  let aborted = false;
  res.onAborted(() => { aborted = true; });
  setTimeout(() => { if (!aborted) res.cork(send); }, delay);
};
app.get('/small', (res) => later(res, () => { res.writeHeader('content-type', 'application/json').end(small); }));
app.get('/kb', (res) => { res.cork(() => { res.writeHeader('content-type', 'application/json').end(kb); }); });
app.get('/large', (res) => { res.cork(() => { res.writeHeader('content-type', 'application/octet-stream').end(large); }); });
app.any('/*', (res) => { res.cork(() => { res.writeHeader('content-type', 'application/json').end(small); }); });
app.listen('127.0.0.1', Number(process.env.PORT ?? 0), (s) => {
  if (!s) { console.error('upstream could not listen'); process.exit(1); }
  const port = uws.us_socket_local_port(s);
  // The same server on 127.0.0.2 and .3 too: three "targets" for the balancer benchmark
  // without adding processes to the load generator's core.
  for (const host of ['127.0.0.2', '127.0.0.3']) app.listen(host, port, () => undefined);
  process.stdout.write(JSON.stringify({ port }) + '\n');
});
