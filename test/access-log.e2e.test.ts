// The access log over real sockets: one JSON line per request when its response is over,
// Envoy-like fields and response flags, credentials never written, per-route disable,
// sampling, the text template, and reopening on SIGUSR1 (logrotate) — both engines.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { request } from './helpers/client.js';
import { freePort, startUpstream } from './helpers/upstream.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function lines(file: string): Array<Record<string, any>> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
}

async function waitLines(file: string, n: number): Promise<Array<Record<string, any>>> {
  for (let i = 0; i < 100; i++) {
    const l = lines(file);
    if (l.length >= n) return l;
    await sleep(30);
  }
  return lines(file);
}

for (const engine of ENGINES) {
  t.test(`${engine} engine: JSON lines`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-log-'));
    const file = join(dir, 'access.log');
    const up = await startUpstream((req, res, body) => {
      if (req.url === '/slow') { setTimeout(() => { res.writeHead(200, { 'content-length': '2' }); res.end('ok'); }, 2000); return; }
      const text = `got ${body.length}`;
      res.writeHead(200, { 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
    const dead = await freePort();
    const gw = await startGatewayProcess({
      consumers: [{ id: 'app', keys: [{ key: 'app-key-123456' }] }],
      auth: { keys: { type: 'api-key', query: 'k' } },
      upstreams: { app: { targets: [{ url: up.url }] }, gone: { targets: [{ url: `http://127.0.0.1:${dead}` }] } },
      routes: [
        { name: 'items', match: { path: '/items/:id' }, upstream: 'app', auth: ['keys'] },
        { name: 'quiet', match: { prefix: '/quiet' }, upstream: 'app', accessLog: false },
        { name: 'limited', match: { prefix: '/limited' }, upstream: 'app', rateLimit: [{ key: ['route'], rate: 1, per: 'minute', burst: 1 }] },
        { name: 'down', match: { prefix: '/down' }, upstream: 'gone', retry: { attempts: 0 } },
        { name: 'slow', match: { prefix: '/slow' }, upstream: 'app' },
      ],
      observability: { accessLog: { enabled: true, path: file, requestHeaders: ['x-api-key', 'authorization', 'x-tag'] } },
    }, engine);
    t.teardown(async () => { await gw.stop(); await up.close(); });

    const ok = await request(`${gw.url}/items/7?k=app-key-123456&x=1&access_token=tok-secret`, { method: 'POST', body: 'hello', headers: { 'user-agent': 'test-agent/1', 'x-tag': 'blue', authorization: 'Bearer very-secret', 'x-request-id': 'req-one' } });
    t.equal(ok.status, 200);
    let l = await waitLines(file, 1);
    const first = l[0]!;
    t.equal(first.method, 'POST');
    t.equal(first.path, '/items/7');
    t.equal(first.status, 200);
    t.equal(first.route, 'items');
    t.equal(first.upstream, 'app');
    t.equal(first.upstream_target, `127.0.0.1:${up.port}`);
    t.type(first.upstream_duration_ms, 'number');
    t.type(first.duration_ms, 'number');
    t.ok(first.duration_ms >= first.upstream_duration_ms);
    t.equal(first.bytes_received, 5);
    t.equal(first.bytes_sent, 'got 5'.length);
    t.equal(first.request_id, 'req-one');
    t.equal(first.consumer, 'app');
    t.equal(first.client_ip, '127.0.0.1');
    t.equal(first.user_agent, 'test-agent/1');
    t.equal(first.response_flags, '-');
    t.ok(!Number.isNaN(Date.parse(first.start_time)), 'ISO start time');
    t.equal(first.query, 'k=[redacted]&x=1&access_token=[redacted]', 'credential query values are redacted (the configured key param too)');
    t.same(first.request_headers, { authorization: '[redacted]', 'x-tag': 'blue' }, 'credential headers are redacted; others logged as sent');

    await request(`${gw.url}/quiet/x`);
    await request(`${gw.url}/nowhere`);
    await request(`${gw.url}/limited`);
    await request(`${gw.url}/limited`);
    await request(`${gw.url}/down`);
    await request(`${gw.url}/items/1`); // no key: 401
    l = await waitLines(file, 6);
    t.equal(l.length, 6, 'no line for the quiet route');
    t.notOk(l.some((x) => x.route === 'quiet'));
    t.same(l.slice(1).map((x) => [x.route, x.status, x.response_flags]), [['', 404, 'NR'], ['limited', 200, '-'], ['limited', 429, 'RL'], ['down', 502, 'UF'], ['items', 401, 'UAEX']]);

    // A client that leaves before the answer: DC, status 499.
    await new Promise<void>((resolve) => {
      const s = net.connect(gw.port, '127.0.0.1', () => {
        s.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
        setTimeout(() => { s.destroy(); resolve(); }, 200);
      });
    });
    l = await waitLines(file, 7);
    t.same([l[6]!.route, l[6]!.status, l[6]!.response_flags], ['slow', 499, 'DC'], 'the client closed');
    const raw = readFileSync(file, 'utf8');
    for (const secret of ['app-key-123456', 'very-secret', 'tok-secret']) t.notOk(raw.includes(secret), `${secret} is never written`);

    // logrotate: move the file away, SIGUSR1, the next line goes to a new file at the path.
    renameSync(file, `${file}.1`);
    gw.proc.kill('SIGUSR1');
    await sleep(300);
    await request(`${gw.url}/items/9?k=app-key-123456`);
    const fresh = await waitLines(file, 1);
    t.equal(fresh.length, 1, 'a new file after SIGUSR1');
    t.equal(fresh[0]!.path, '/items/9');
    t.equal(lines(`${file}.1`).length, 7, 'the rotated file keeps its lines');
    t.equal((await request(`${gw.url}/items/9?k=app-key-123456`)).status, 200, 'still serving');
  });
}

t.test('text template, sampling (errors always), 2 threads on one file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-log-'));
  const file = join(dir, 'access.log');
  const up = await startUpstream();
  const gw = await startGatewayProcess({
    threads: 2,
    upstreams: { app: { targets: [{ url: up.url }] } },
    routes: [{ name: 'all', match: { prefix: '/ok' }, upstream: 'app' }],
    observability: { accessLog: { enabled: true, path: file, format: 'text', template: '{method} {path} {status} {route} {response_flags} "{user_agent}"', sample: 0 } },
  }, 'uws');
  t.teardown(async () => { await gw.stop(); await up.close(); });
  for (let i = 0; i < 20; i++) await request(`${gw.url}/ok`);
  const r = await request(`${gw.url}/ok/x`, { headers: { 'user-agent': 'a"b' } });
  t.equal(r.status, 200);
  await sleep(500);
  t.equal(readFileSync(file, 'utf8'), '', 'sample 0: successful requests are not logged');
  await gw.stop();
  const gw2 = await startGatewayProcess({
    threads: 2,
    upstreams: { app: { targets: [{ url: up.url }] }, gone: { targets: [{ url: `http://127.0.0.1:${await freePort()}` }] } },
    routes: [{ name: 'all', match: { prefix: '/ok' }, upstream: 'app' }, { name: 'down', match: { prefix: '/down' }, upstream: 'gone', retry: { attempts: 0 } }],
    observability: { accessLog: { enabled: true, path: file, format: 'text', template: '{method} {path} {status} {route} {response_flags} "{user_agent}"', sample: 0.5 } },
  }, 'uws');
  t.teardown(() => gw2.stop());
  for (let i = 0; i < 200; i++) await request(`${gw2.url}/ok`, { headers: { 'user-agent': 'ua"x' } });
  for (let i = 0; i < 5; i++) await request(`${gw2.url}/down`);
  await sleep(500);
  const text = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const oks = text.filter((l) => l.startsWith('GET /ok 200'));
  t.ok(oks.length > 50 && oks.length < 150, `about half sampled (${oks.length} of 200)`);
  t.equal(oks[0], 'GET /ok 200 all - "ua\\x22x"', 'the template, with quotes escaped');
  t.equal(text.filter((l) => l === 'GET /down 502 down UF "-"').length, 5, 'every 5xx is logged');
});
