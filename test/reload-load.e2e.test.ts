// Reloads under load on a busy machine: the process must never abort, every request gets a
// proper answer, and requests that started on a table (held for a token, uploading a body,
// waiting in retry backoff) finish on it: its pools close only when it is idle.
import t from 'tap';
import http from 'node:http';
import { fork, type ChildProcess } from 'node:child_process';
import { SignJWT } from 'jose';
import { startGatewayProcess } from './helpers/gateway-process.js';
import { startUpstream } from './helpers/upstream.js';
import { request, assertAlive } from './helpers/client.js';

const SECRET = 'reload-under-load-secret-0123456789abcdef';

function post(url: string, body: Buffer, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-length': String(body.length), ...headers }, agent: false }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode!)); });
    req.on('error', () => resolve(-1));
    req.end(body);
  });
}

/** Busy loops in other processes: the machine is loaded while the gateway reloads. */
function burners(n: number): ChildProcess[] {
  return Array.from({ length: n }, () => fork('-e', [], { execArgv: ['-e', 'const end = Date.now() + 20000; while (Date.now() < end) {}'] }));
}

t.test('10 reloads at ~300 req/s with the cores busy: no abort, every answer proper', async (t) => {
  let slow = 0;
  const up = await startUpstream((req, res, body) => {
    const text = JSON.stringify({ url: req.url, bytes: body.length });
    const answer = () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
    if (req.url?.startsWith('/slow') && slow++ % 2 === 0) setTimeout(answer, 30); else answer();
  });
  const config = (variant: number) => ({
    threads: 2,
    auth: { jwt: { type: 'jwt', algorithms: ['HS256'], keys: [{ secret: SECRET }], cache: { maxTokens: 0 } } },
    upstreams: { up: { targets: [{ url: up.url }] } },
    routes: [
      { name: `jwt-${variant}`, match: { prefix: '/jwt' }, upstream: 'up', auth: ['jwt'] },
      { name: `body-${variant}`, match: { prefix: '/upload' }, upstream: 'up', retry: { attempts: 1, on: ['connect-failure', 502], backoffMs: 5, bufferBodyBytes: 65536 } },
      { name: `all-${variant}`, match: { prefix: '/' }, upstream: 'up' },
    ],
  });
  const gw = await startGatewayProcess(config(0), 'uws');
  const load = burners(2);
  t.teardown(async () => { for (const b of load) b.kill(); await gw.stop(); await up.close(); });
  const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(Buffer.from(SECRET));

  const statuses = new Map<number, number>();
  const count = (s: number) => statuses.set(s, (statuses.get(s) ?? 0) + 1);
  const body = Buffer.alloc(20_000, 'b');
  let stop = false;
  const kinds = [
    () => request(`${gw.url}/slow/x`).then((r) => r.status, () => -1),
    () => request(`${gw.url}/jwt/x`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status, () => -1),
    () => post(`${gw.url}/jwt/up`, body, { authorization: `Bearer ${token}` }),
    () => post(`${gw.url}/jwt/bad`, body, { authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bad' }),
    () => post(`${gw.url}/upload/x`, body, {}),
  ];
  const loop = async (k: number) => {
    for (let i = k; !stop; i++) {
      count(await kinds[i % kinds.length]!());
      await new Promise((r) => setTimeout(r, 15));
    }
  };
  const loops = Array.from({ length: 6 }, (_, k) => loop(k));
  let reloaded = 0;
  for (let i = 1; i <= 10; i++) {
    await new Promise((r) => setTimeout(r, 300));
    const r = await request(`${gw.adminUrl}/admin/reload`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: JSON.stringify({ ...config(i), engine: 'uws', listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } }) });
    if (r.status === 200) reloaded++;
  }
  stop = true;
  await Promise.all(loops);
  const total = [...statuses.values()].reduce((a, b) => a + b, 0);
  t.equal(reloaded, 10, 'every reload applied');
  t.ok(total > 300, `${total} requests during the reloads`);
  t.same([...statuses.keys()].filter((s) => s !== 200 && s !== 401).sort(), [], `only 200 and 401 answers (${JSON.stringify([...statuses])})`);
  t.equal(gw.proc.exitCode, null, 'the process is running');
  await assertAlive(t, gw.port, 'after reloads under load');
  t.notMatch(gw.output(), /terminate called|Returning from a request handler|must not be accessed|uncaught exception|unhandled rejection|thread died/, 'no abort, crash or escaped error was logged');
});

t.test('a request waiting in retry backoff during a reload finishes on its table', async (t) => {
  let calls = 0;
  const up = await startUpstream((req, res) => {
    calls++;
    if (calls === 1) { res.writeHead(503, { 'content-length': '0' }).end(); return; }
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' }).end('ok');
  });
  const cfg = (name: string) => ({
    upstreams: { up: { targets: [{ url: up.url }] } },
    routes: [{ name, match: { prefix: '/' }, upstream: 'up', retry: { attempts: 1, on: [503], backoffMs: 1000 } }],
  });
  for (const engine of ['uws', 'node'] as const) {
    calls = 0;
    const gw = await startGatewayProcess(cfg('before'), engine);
    const pending = request(`${gw.url}/retry-me`);
    await new Promise((r) => setTimeout(r, 300)); // the first attempt got 503; the retry waits ~0.5–1.5 s
    const reload = await request(`${gw.adminUrl}/admin/reload`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: JSON.stringify({ ...cfg('after'), engine, threads: 1, listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } }) });
    t.equal(reload.status, 200, `${engine}: reloaded while the request waits`);
    const r = await pending;
    t.equal(r.status, 200, `${engine}: the retry went out on the old table's pool, which was still open`);
    t.equal(calls, 2);
    await gw.stop();
  }
  await up.close();
});
