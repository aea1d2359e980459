// Malformed and hostile requests, sent as raw bytes, on both engines. Each must get a clear
// error (or, where uWS's own parser drops the connection, never reach the upstream).
import t, { type Test } from 'tap';
import net from 'node:net';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { startUpstream } from './helpers/upstream.js';
import { rawExchange, statusOf, bodyOf, assertAlive } from './helpers/client.js';

for (const engine of ENGINES) {
  t.test(`${engine} engine`, async (t) => {
    const up = await startUpstream();
    const gw = await startGatewayProcess({
      limits: { maxHeaderBytes: 8192, maxHeaderCount: 40, maxBodyBytes: 1000, headersTimeoutMs: 1000 },
      upstreams: { up: { targets: [{ url: up.url }] } },
      routes: [{ match: { prefix: '/' }, upstream: 'up' }],
    }, engine);
    t.teardown(async () => { await gw.stop(); await up.close(); });

    /** Sends bytes; asserts the upstream saw nothing and returns the status (null: closed without answer). */
    async function rejected(t: Test, bytes: string, what: string, waitMs = 2000): Promise<number | null> {
      const before = up.seen.length;
      const r = await rawExchange(gw.port, bytes, waitMs);
      t.not(r.error, 'ECONNREFUSED', `${what}: the gateway was listening`);
      // Cases run concurrently, and each one's liveness probe (GET /__alive) is forwarded:
      // count everything else that reached the upstream meanwhile.
      t.equal(up.seen.slice(before).filter((s) => s.url !== '/__alive').length, 0, `${what}: not forwarded`);
      t.ok(r.closed || statusOf(r.text) !== null, `${what}: answered or closed by the gateway, no hang`);
      const status = statusOf(r.text);
      if (status !== null) {
        t.notMatch(r.text, /\n\s+at |node:internal/, `${what}: no stack trace`);
      }
      await assertAlive(t, gw.port, what);
      return status;
    }

    await t.test('malformed request line and header syntax', async (t) => {
      // node answers 400. uWS 20.30's native parser gives the application no chance: it stops
      // reading and closes the connection at its idle timeout (~12 s) without a response
      // (docs/architecture.md). Either way nothing reaches the upstream.
      const cases = [
        ['garbage request line', 'GARBAGE\r\n\r\n'],
        ['bad HTTP version', 'GET /x HTTP/9.9 extra\r\nHost: a\r\n\r\n'],
        ['space in header name', 'GET /x HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n'],
        ['header without colon', 'GET /x HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n'],
      ] as const;
      const statuses = await Promise.all(cases.map(([what, bytes]) => rejected(t, bytes, what, engine === 'node' ? 2000 : 15_000)));
      cases.forEach(([what], i) => {
        if (engine === 'node') t.equal(statuses[i], 400, `${what}: 400`);
        else t.ok(statuses[i] === null || statuses[i] === 400, `${what}: 400 or closed (got ${statuses[i]})`);
      });
    });

    await t.test('request smuggling vectors are refused', async (t) => {
      const both = await rejected(t, 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', 'CL + TE', engine === 'node' ? 2000 : 15_000);
      t.ok(both === 400 || (engine === 'uws' && both === null), `CL + TE: 400 (got ${both})`);
      const dup = await rejected(t, 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde', 'duplicate differing Content-Length');
      t.equal(dup, 400, 'differing Content-Length: 400');
      const gzip = await rejected(t, 'POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc', 'Transfer-Encoding gzip');
      t.ok(gzip === 400 || gzip === 501, `unsupported Transfer-Encoding refused with 4xx/501 (got ${gzip})`);
    });

    await t.test('gateway answers 400 with a JSON body for a duplicate differing Content-Length', async (t) => {
      const r = await rawExchange(gw.port, 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde', 2000);
      t.equal(statusOf(r.text), 400);
      t.equal(bodyOf(r.text)?.error?.code, 'bad_request');
    });

    await t.test('headers over the limit: 431', async (t) => {
      const big = await rejected(t, `GET /x HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(9000)}\r\n\r\n`, '9 KB header');
      t.equal(big, 431);
      const r = await rawExchange(gw.port, `GET /x HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(9000)}\r\n\r\n`, 2000);
      if (engine === 'uws') t.equal(bodyOf(r.text)?.error?.code, 'header_fields_too_large');
      const many = Array.from({ length: 45 }, (_, i) => `X-H${i}: v\r\n`).join('');
      const count = await rejected(t, `GET /x HTTP/1.1\r\nHost: a\r\n${many}\r\n`, '45 headers', engine === 'node' ? 2000 : 15_000);
      // uWS 20.30 drops requests with more headers than its fixed table holds; node and
      // the gateway's own count answer 431.
      t.ok(count === 431 || (engine === 'uws' && count === null), `too many headers: 431 (got ${count})`);
    });

    await t.test('body over the limit: 413', async (t) => {
      const byLength = await rejected(t, `POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n${'b'.repeat(5000)}`, 'Content-Length over limit');
      t.equal(byLength, 413);
      const before = up.seen.length;
      const chunk = 'c'.repeat(600);
      const r = await rawExchange(gw.port, `POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`, 2000);
      t.equal(statusOf(r.text), 413, 'chunked body over limit: 413');
      t.equal(bodyOf(r.text)?.error?.code, 'payload_too_large');
      t.ok(up.seen.slice(before).every((s) => s.body.length <= 1000), 'the upstream never received a complete oversized body');
    });

    await t.test('a client that sends headers slowly is cut off', async (t) => {
      // node: limits.headersTimeoutMs (1 s here); uWS: its fixed 10 s idle timeout.
      const limit = engine === 'node' ? 1000 : 10_000;
      const s = net.connect(gw.port, '127.0.0.1');
      const started = Date.now();
      let text = '';
      s.on('data', (d) => { text += d; });
      s.on('error', () => undefined);
      s.write('GET /x HTTP/1.1\r\nHost: a\r\n');
      const drip = setInterval(() => { if (!s.destroyed) s.write('X-Slow: 1\r\n'); }, 300);
      await new Promise<void>((r) => s.on('close', () => r()));
      clearInterval(drip);
      const took = Date.now() - started;
      t.ok(took >= limit * 0.9 && took < limit + 6000, `closed after ${took} ms (limit ${limit})`);
      t.ok(text === '' || statusOf(text) === 408, 'no request was served');
      t.equal(up.seen.filter((x) => x.headers['x-slow']).length, 0, 'nothing forwarded');
    });
  });
}
