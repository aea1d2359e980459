// The benchmark upstream: a uWS server (~200k req/s here, so it is never the bottleneck)
// answering GET /small (~100 B JSON) and GET /large (64 KB). Prints its port on stdout.
import { loadNativeUws } from '../src/server/uws-loader.js';

const uws = loadNativeUws();
const small = JSON.stringify({ id: 42, name: 'benchmark', tags: ['a', 'b', 'c'], ok: true, ts: 1700000000000, note: 'small' });
const large = Buffer.alloc(64 * 1024, 'x');
const app = uws.App();
app.get('/small', (res) => { res.cork(() => { res.writeHeader('content-type', 'application/json').end(small); }); });
app.get('/large', (res) => { res.cork(() => { res.writeHeader('content-type', 'application/octet-stream').end(large); }); });
app.any('/*', (res) => { res.cork(() => { res.writeHeader('content-type', 'application/json').end(small); }); });
app.listen('127.0.0.1', Number(process.env.PORT ?? 0), (s) => {
  if (!s) { console.error('upstream could not listen'); process.exit(1); }
  process.stdout.write(JSON.stringify({ port: uws.us_socket_local_port(s) }) + '\n');
});
