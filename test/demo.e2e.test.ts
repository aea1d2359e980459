// `npm start` runs `gateway demo`: demo services + embedded config. A newcomer's curls work.
import t from 'tap';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { CLI } from './helpers/gateway-process.js';

const ROOT = join(dirname(CLI), '..', '..');
import { request } from './helpers/client.js';

t.test('gateway demo serves routed responses', async (t) => {
  const proc = spawn(process.execPath, [CLI, 'demo', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn' } });
  t.teardown(() => { proc.kill('SIGTERM'); });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo did not start:\n${out}`)), 10_000);
    proc.stdout.on('data', () => {
      const m = /Demo gateway \(uws engine, \d+ threads?\) on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    });
  });
  t.match(out, /curl -i .*\/api\/users/);
  const users = await request(`${base}/api/users`);
  t.equal(users.status, 200);
  t.equal(users.json.items.length, 2);
  t.equal(users.headers['x-served-by'], 'users');
  t.equal(users.headers['ratelimit-policy'], '5;w=1;burst=10', 'the demo shows rate-limit headers');
  const user = await request(`${base}/api/users/1`);
  t.equal(user.json.item.name, 'Ada Lovelace');
  const order = await request(`${base}/api/orders/100`);
  t.equal(order.json.item.item, 'Analytical Engine');
  t.equal(order.json.requestId, order.headers['x-request-id'], 'request id reached the service');
  t.equal((await request(`${base}/nope`)).status, 404);
  const book = await request(`${base}/v1/shelves/classics/books/1`);
  t.equal(book.status, 200, 'the demo gRPC service answers REST/JSON');
  t.equal(book.json.author, 'Ada Lovelace');
  t.match(out, /curl -s .*\/v1\/shelves\/classics\/books\/1/);
  const profile = await request(`${base}/api/profile/1`);
  t.equal(profile.status, 200, profile.body);
  t.same(profile.json.user, { id: '1', name: 'Ada Lovelace', favoriteShelf: 'classics' }, 'the aggregate: the user');
  t.same(profile.json.orders.map((o: { id: string }) => o.id), ['100'], 'their orders');
  t.equal(profile.json.recommendations.books.length, 2, 'books from the gRPC service, on the user\'s shelf');
  t.equal(profile.headers['x-aggregate-completed'], 'true');
  t.match(out, /curl -si .*\/api\/profile\/1/);
  t.equal((await request(`${base}/api/profile/9`)).status, 404, 'a required backend\'s 404 passes through');
  // The printed WebSocket command, run as a newcomer would.
  const cmd = /node (examples\/ws-echo\.mjs) (ws:\S+) hello/.exec(out);
  t.ok(cmd, 'the demo prints a WebSocket command');
  const logFrom = out.length;
  const echo = spawn(process.execPath, [cmd![1]!, cmd![2]!, 'hello'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let echoed = '';
  echo.stdout.on('data', (d) => { echoed += d; });
  echo.stderr.on('data', (d) => { echoed += d; });
  const code = await new Promise<number | null>((r) => echo.on('exit', r));
  t.equal(code, 0, echoed);
  // (on failure, what the gateway logged meanwhile: a rare 1006 here under a loaded machine)
  t.match(echoed, /< echo: hello\n/, `the chat service answered through the gateway${echoed.includes('< echo') ? '' : `; gateway log: ${out.slice(logFrom).slice(-2000) || '(nothing)'}`}`);
  t.match(echoed, /closed 1000/);
  // The printed bidi-over-WebSocket command.
  const bidiCmd = /node (examples\/grpc-ws\.mjs) (ws:\S+) hello world/.exec(out);
  t.ok(bidiCmd, 'the demo prints a bidi-over-WebSocket command');
  const bidi = spawn(process.execPath, [bidiCmd![1]!, bidiCmd![2]!, 'hello', 'world'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let talked = '';
  bidi.stdout.on('data', (d) => { talked += d; });
  bidi.stderr.on('data', (d) => { talked += d; });
  t.equal(await new Promise<number | null>((r) => bidi.on('exit', r)), 0, talked);
  t.match(talked, /< \{"text":"HELLO","seq":1\}\n> \{"text":"world","seq":2\}\n< \{"text":"WORLD","seq":2\}\nclosed 1000/, 'each note answered by the gRPC service, then OK as 1000');
  const wrong = await request(`${base}/api/users/1`, { method: 'DELETE' });
  t.equal(wrong.status, 405);
  t.equal(wrong.headers.allow, 'GET, HEAD');
});
