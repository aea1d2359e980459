// 100 MB bodies in both directions through the gateway with bounded memory, and 1,000
// clients that hang up mid-response without leaking upstream sockets or memory.
import t from 'tap';
import http from 'node:http';
import { ENGINES, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.js';
import { startUpstream } from './helpers/upstream.js';
import { request } from './helpers/client.js';

const MB = 1024 * 1024;
const TOTAL = 100 * MB;
const CHUNK = Buffer.alloc(64 * 1024, 7);

/** Writes `total` bytes to a writable, honouring backpressure. */
function pump(out: NodeJS.WritableStream & { write(c: Buffer): boolean }, total: number, done: () => void): void {
  let sent = 0;
  const more = () => {
    while (sent < total) {
      const n = Math.min(CHUNK.length, total - sent);
      sent += n;
      if (!out.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) { out.once('drain', more); return; }
    }
    done();
  };
  more();
}

/** Samples the gateway's RSS while `work` runs; returns the peak growth over the start. */
async function peakRssGrowth(gw: GatewayProcess, work: () => Promise<void>): Promise<number> {
  const base = gw.rssBytes();
  let peak = base;
  const timer = setInterval(() => { peak = Math.max(peak, gw.rssBytes()); }, 25);
  try { await work(); } finally { clearInterval(timer); }
  return Math.max(peak, gw.rssBytes()) - base;
}

for (const engine of ENGINES) {
  t.test(`${engine} engine`, async (t) => {
    let endlessActive = 0;
    const up = await startUpstream(undefined, {
      streaming: (req, res) => {
        if (req.url === '/download' || req.url === '/download-chunked') {
          res.writeHead(200, req.url === '/download' ? { 'content-length': TOTAL } : {});
          pump(res, TOTAL, () => res.end());
        } else if (req.url === '/upload') {
          let bytes = 0, wrong = 0;
          req.on('data', (c: Buffer) => { bytes += c.length; for (let i = 0; i < c.length; i++) if (c[i] !== 7) wrong++; });
          req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify({ bytes, wrong })); });
        } else if (req.url === '/endless') {
          endlessActive++;
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('first chunk\n');
          const tick = setInterval(() => res.write('more\n'), 20);
          res.on('close', () => { endlessActive--; clearInterval(tick); });
        } else {
          res.writeHead(404);
          res.end();
        }
      },
    });
    const gw = await startGatewayProcess({
      limits: { maxBodyBytes: 2 * TOTAL },
      upstreams: { up: { targets: [{ url: up.url }] } },
      routes: [{ match: { prefix: '/' }, upstream: 'up', timeoutMs: 120_000 }],
    }, engine);
    t.teardown(async () => { await gw.stop(); await up.close(); });
    // Warm up so that the baseline includes JIT, pools and V8's lazily collected socket
    // buffers: V8 lets tens of MB of garbage Buffers pile up before a GC, once, whatever
    // the body size. Growth measured after that shows whether the gateway buffers bodies.
    await request(`${gw.url}/upload`, { method: 'POST', body: Buffer.alloc(MB, 7) });
    await new Promise<void>((resolve, reject) => {
      http.get(`${gw.url}/download`, { agent: false }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
    });

    for (const path of ['/download', '/download-chunked']) {
      await t.test(`100 MB download ${path}`, async (t) => {
        let received = 0;
        const growth = await peakRssGrowth(gw, () => new Promise<void>((resolve, reject) => {
          http.get(`${gw.url}${path}`, { agent: false }, (res) => {
            t.equal(res.statusCode, 200);
            if (path === '/download') t.equal(res.headers['content-length'], String(TOTAL));
            // A slower reader than the upstream: the gateway must push back, not buffer.
            let sinceePause = 0;
            res.on('data', (c: Buffer) => {
              received += c.length;
              sinceePause += c.length;
              if (sinceePause > 4 * MB) { sinceePause = 0; res.pause(); setTimeout(() => res.resume(), 10); }
            });
            res.on('end', resolve);
            res.on('error', reject);
          }).on('error', reject);
        }));
        t.equal(received, TOTAL, 'every byte arrived');
        t.ok(growth < 40 * MB, `gateway RSS grew by ${(growth / MB).toFixed(1)} MB (< 40 MB for a 100 MB body)`);
      });
    }

    for (const chunked of [false, true]) {
      await t.test(`100 MB upload (${chunked ? 'chunked' : 'content-length'})`, async (t) => {
        let reply = '';
        const growth = await peakRssGrowth(gw, () => new Promise<void>((resolve, reject) => {
          const req = http.request(`${gw.url}/upload`, { method: 'POST', agent: false, headers: chunked ? {} : { 'content-length': TOTAL } }, (res) => {
            res.on('data', (c) => { reply += c; });
            res.on('end', resolve);
          });
          req.on('error', reject);
          pump(req, TOTAL, () => req.end());
        }));
        const got = JSON.parse(reply) as { bytes: number; wrong: number };
        t.equal(got.bytes, TOTAL, 'the upstream received every byte');
        t.equal(got.wrong, 0, 'and the bytes are intact');
        t.ok(growth < 40 * MB, `gateway RSS grew by ${(growth / MB).toFixed(1)} MB (< 40 MB for a 100 MB body)`);
      });
    }

    await t.test('1,000 clients that disconnect mid-response leak nothing', async (t) => {
      const abortOne = () => new Promise<void>((resolve) => {
        const req = http.get(`${gw.url}/endless`, { agent: false }, (res) => {
          res.once('data', () => { req.destroy(); resolve(); });
        });
        req.on('error', () => resolve());
      });
      const run = async (n: number) => {
        for (let i = 0; i < n; i += 25) await Promise.all(Array.from({ length: Math.min(25, n - i) }, abortOne));
      };
      await run(100); // warm-up
      await new Promise((r) => setTimeout(r, 300));
      const rssBefore = gw.rssBytes();
      const socketsBefore = up.openSockets();
      await run(1000);
      // give both sides a moment to see the closes
      for (let i = 0; i < 40 && endlessActive > 0; i++) await new Promise((r) => setTimeout(r, 50));
      t.equal(endlessActive, 0, 'every aborted exchange was cancelled upstream');
      // Idle keep-alive connections may stay open in the pool: bounded by
      // the concurrency (25), and no growth with the number of aborts.
      const open = up.openSockets();
      t.ok(open <= 60, `upstream sockets open: ${open} (before the 1,000 aborts: ${socketsBefore}; bounded by peak concurrency, not by the 1,000 aborts)`);
      const health = await request(`${gw.adminUrl}/admin/health`);
      t.equal(health.json.inflight, 0, 'no request is left in flight');
      const growth = gw.rssBytes() - rssBefore;
      t.ok(growth < 40 * MB, `RSS grew by ${(growth / MB).toFixed(1)} MB over 1,000 aborts`);
      const after = await request(`${gw.url}/upload`, { method: 'POST', body: 'still works' });
      t.equal(after.status, 200, 'the gateway still serves');
    });
  });
}
