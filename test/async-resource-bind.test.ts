// The pool's lean AsyncResource.bind (async-resource-bind.ts) must bind exactly as Node's
// does — async context, `this`, arguments, thisArg, `length`, the error on a non-function —
// and node:http2, its reason to exist, must work with it.
import t from 'tap';
import http2 from 'node:http2';
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { useLeanAsyncBind } from '../src/transcode/async-resource-bind.js';

t.test('binds like Node: context, this, arguments, thisArg, length', async (t) => {
  const stock = AsyncResource.prototype.bind;
  useLeanAsyncBind();
  t.not(AsyncResource.prototype.bind, stock, 'replaced');
  useLeanAsyncBind();
  const als = new AsyncLocalStorage<string>();
  const bound = als.run('at bind', () => new AsyncResource('T').bind(function (this: unknown, a: number, b: number) { return [als.getStore(), this, a + b]; }));
  const self = { name: 'receiver' };
  t.same(als.run('at call', () => bound.call(self, 2, 3)), ['at bind', self, 5], 'the context of bind time, the caller\'s this');
  t.equal(bound.length, 2);
  t.notOk('asyncResource' in bound, 'no deprecated accessor');
  const withThis = als.run('ctx', () => (new AsyncResource('T').bind as (fn: unknown, thisArg: unknown) => (this: unknown, a: number) => unknown)(function (this: unknown, a: number) { return [als.getStore(), this, a]; }, self));
  t.same(withThis.call({ other: true }, 7), ['ctx', self, 7], 'thisArg wins');
  const viaStatic = als.run('static', () => AsyncResource.bind((x: number) => [als.getStore(), x]));
  t.same(viaStatic(1), ['static', 1], 'AsyncResource.bind (static) goes through it');
  t.throws(() => new AsyncResource('T').bind(42 as never), { code: 'ERR_INVALID_ARG_TYPE' });
});

t.test('node:http2 requests run with it, their callbacks in the caller\'s context', async (t) => {
  useLeanAsyncBind();
  const server = http2.createServer();
  server.on('stream', (s, h) => { s.respond({ ':status': 200 }); s.end(String(h[':path'])); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const session = http2.connect(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  const als = new AsyncLocalStorage<number>();
  const one = (i: number) => als.run(i, () => new Promise<[number | undefined, string]>((resolve, reject) => {
    const req = session.request({ ':path': `/n/${i}` });
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => { body += d; });
    req.on('end', () => resolve([als.getStore(), body]));
    req.on('error', reject);
    req.end();
  }));
  const got = await Promise.all([1, 2, 3, 4, 5].map(one));
  t.same(got, [1, 2, 3, 4, 5].map((i) => [i, `/n/${i}`]));
  session.close();
  await new Promise((r) => server.close(r));
});

t.test('a read-only AsyncResource.prototype keeps Node\'s bind, and gRPC channels still start', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const mod = new URL('../src/transcode/async-resource-bind.js', import.meta.url).href;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', `
    import { AsyncResource } from 'node:async_hooks';
    Object.freeze(AsyncResource.prototype);
    const stock = AsyncResource.prototype.bind;
    const { useLeanAsyncBind } = await import(${JSON.stringify(mod)});
    useLeanAsyncBind();
    console.log(AsyncResource.prototype.bind === stock ? 'kept' : 'replaced');
  `], { encoding: 'utf8' });
  t.equal(out.trim(), 'kept');
});
