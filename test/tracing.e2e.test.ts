// W3C trace context and OTLP export over real sockets: a real OTLP/HTTP receiver (JSON
// encoding of the published OTLP protos: resourceSpans → scopeSpans → spans), a real HTTP
// upstream and a real gRPC server; parent/child links and semantic-convention attributes.
import t from 'tap';
import http from 'node:http';
import type net from 'node:net';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { request } from './helpers/client.js';
import { freePort, startUpstream } from './helpers/upstream.js';
import { startCatalogServer, PROTO_DIR } from '../src/demo/catalog-service.js';

interface OtlpSpan { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; startTimeUnixNano: string; endTimeUnixNano: string; attributes: Array<{ key: string; value: Record<string, unknown> }>; status?: { code?: number } }

/** An OTLP/HTTP receiver: POST /v1/traces with the JSON encoding. */
async function startReceiver(): Promise<{ url: string; spans: OtlpSpan[]; resources: Array<Record<string, unknown>>; close(): void }> {
  const spans: OtlpSpan[] = [];
  const resources: Array<Record<string, unknown>> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces' && /json/.test(req.headers['content-type'] ?? '')) {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { resourceSpans: Array<{ resource: Record<string, unknown>; scopeSpans: Array<{ spans: OtlpSpan[] }> }> };
        for (const rs of body.resourceSpans) { resources.push(rs.resource); for (const ss of rs.scopeSpans) spans.push(...ss.spans); }
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/v1/traces`, spans, resources, close: () => { server.closeAllConnections(); server.close(); } };
}

const attr = (s: OtlpSpan, key: string): unknown => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v === undefined ? undefined : (v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.boolValue ?? v.doubleValue));
};

async function waitFor<T>(what: string, fn: () => T | undefined, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';
const PARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

for (const engine of ENGINES) {
  t.test(`${engine} engine`, async (t) => {
    const receiver = await startReceiver();
    let failNext = 0;
    const up = await startUpstream((req, res) => {
      if (req.url === '/flaky' && failNext > 0) { failNext--; res.writeHead(503, { 'content-length': '0' }); res.end(); return; }
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
      res.end('ok');
    });
    const up2 = await startUpstream((_req, res) => { res.writeHead(200, { 'content-length': '2' }); res.end('ok'); });
    const grpcServer = await startCatalogServer();
    const config = (sampleRatio: number) => ({
      consumers: [{ id: 'app', keys: [{ key: 'app-key-123456' }] }],
      auth: { keys: { type: 'api-key' } },
      upstreams: {
        app: { targets: [{ url: up.url }] },
        pair: { targets: [{ url: up.url }, { url: up2.url }] },
        catalog: { protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${grpcServer.port}` }], protos: { files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] } },
      },
      routes: [
        { name: 'items', match: { path: '/items/:id' }, upstream: 'app', auth: ['keys'] },
        { name: 'flaky', match: { path: '/flaky' }, upstream: 'pair', retry: { attempts: 1, on: [503], backoffMs: 1 } },
        { name: 'catalog', transcode: { upstream: 'catalog' } },
      ],
      observability: { tracing: { otlp: { endpoint: receiver.url }, sampleRatio, serviceName: 'gw-under-test', responseHeader: 'x-trace-id' } },
    });
    const gw = await startGatewayProcess(config(1), engine);
    t.teardown(async () => { await gw.stop(); await up.close(); await up2.close(); await grpcServer.close(); receiver.close(); });
    const key = { 'x-api-key': 'app-key-123456' };

    await t.test('a sampled parent: the trace continues; server, policy and client spans', async (t) => {
      const r = await request(`${gw.url}/items/7`, { headers: { ...key, traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`, tracestate: 'vendor=abc' } });
      t.equal(r.status, 200);
      t.equal(r.headers['x-trace-id'], CLIENT_TRACE, 'the trace id is echoed');
      const seen = up.seen.at(-1)!;
      const m = PARENT_RE.exec(String(seen.headers.traceparent));
      t.ok(m, `the upstream got a traceparent (${seen.headers.traceparent})`);
      t.equal(m![1], CLIENT_TRACE, 'same trace');
      t.not(m![2], CLIENT_SPAN, 'a new parent id: this hop\'s span');
      t.equal(m![3], '01', 'sampled');
      t.equal(seen.headers.tracestate, 'vendor=abc', 'tracestate goes on');
      const server = await waitFor('the server span', () => receiver.spans.find((s) => s.traceId === CLIENT_TRACE && s.kind === 2));
      t.equal(server.parentSpanId, CLIENT_SPAN, 'child of the client\'s span');
      t.equal(attr(server, 'http.request.method'), 'GET');
      t.equal(attr(server, 'http.route'), '/items/:id');
      t.equal(attr(server, 'gateway.route'), 'items');
      t.equal(attr(server, 'url.path'), '/items/7');
      t.equal(attr(server, 'http.response.status_code'), 200);
      t.equal(attr(server, 'server.address'), '127.0.0.1');
      t.equal(attr(server, 'gateway.consumer'), 'app');
      const client = await waitFor('the client span', () => receiver.spans.find((s) => s.traceId === CLIENT_TRACE && s.kind === 3));
      t.equal(client.parentSpanId, server.spanId, 'the upstream attempt is a child of the request');
      t.equal(client.spanId, m![2], 'the upstream\'s parent is the attempt span');
      t.equal(attr(client, 'server.port'), up.port);
      t.equal(attr(client, 'http.response.status_code'), 200);
      const auth = receiver.spans.find((s) => s.traceId === CLIENT_TRACE && s.name === 'policy auth');
      t.ok(auth, 'the auth policy has its span');
      t.equal(auth!.parentSpanId, server.spanId);
      t.match(JSON.stringify(receiver.resources[0]), /gw-under-test/, 'service.name');
      // the times are the request's own: ordered, and the children inside the request
      const ns = (v: string) => BigInt(v);
      const now = BigInt(Date.now()) * 1_000_000n;
      t.ok(ns(server.startTimeUnixNano) <= ns(server.endTimeUnixNano), 'the server span starts before it ends');
      t.ok(now - ns(server.startTimeUnixNano) < 60_000_000_000n && ns(server.endTimeUnixNano) <= now, 'in epoch nanoseconds, in the last minute');
      for (const c of [client, auth!]) {
        t.ok(ns(c.startTimeUnixNano) >= ns(server.startTimeUnixNano) && ns(c.endTimeUnixNano) <= ns(server.endTimeUnixNano), `${c.name} lies inside the request`);
      }
    });

    await t.test('retries: one client span per attempt, with its resend count', async (t) => {
      failNext = 1;
      const tid = 'aaaabbbbccccddddeeeeffff00001111';
      const r = await request(`${gw.url}/flaky`, { headers: { traceparent: `00-${tid}-${CLIENT_SPAN}-01` } });
      t.equal(r.status, 200);
      const attempts = await waitFor('two attempts', () => { const a = receiver.spans.filter((s) => s.traceId === tid && s.kind === 3); return a.length === 2 ? a : undefined; });
      const first = attempts.find((s) => attr(s, 'http.request.resend_count') === undefined)!;
      const second = attempts.find((s) => attr(s, 'http.request.resend_count') === 1)!;
      t.ok(first && second, 'the retry carries http.request.resend_count=1');
      t.equal(attr(first, 'http.response.status_code'), 503);
      t.equal(first.status?.code, 2, 'the failed attempt is an error');
      t.not(attr(first, 'server.port'), attr(second, 'server.port'), 'the retry went to the other target');
    });

    await t.test('malformed traceparent: a new trace', async (t) => {
      for (const bad of ['00-zzzz', `00-${'0'.repeat(32)}-${CLIENT_SPAN}-01`, `00-${CLIENT_TRACE}-${'0'.repeat(16)}-01`, `ff-${CLIENT_TRACE}-${CLIENT_SPAN}-01`, `00-${CLIENT_TRACE.toUpperCase()}-${CLIENT_SPAN}-01`, `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01-extra`]) {
        const r = await request(`${gw.url}/items/1`, { headers: { ...key, traceparent: bad, tracestate: 'vendor=leak' } });
        t.equal(r.status, 200);
        const seen = up.seen.at(-1)!;
        const m = PARENT_RE.exec(String(seen.headers.traceparent));
        t.ok(m, `valid traceparent upstream for ${bad}`);
        t.not(m![1], CLIENT_TRACE, 'a new trace id');
        t.equal(r.headers['x-trace-id'], m![1]);
        t.equal(seen.headers.tracestate, undefined, 'no tracestate without a valid traceparent');
      }
    });

    await t.test('transcoding: traceparent as gRPC metadata; queue and call spans', async (t) => {
      const tid = '1234567890abcdef1234567890abcdef';
      const r = await request(`${gw.url}/v1/echo`, { method: 'POST', body: '{"text":"x"}', headers: { traceparent: `00-${tid}-${CLIENT_SPAN}-01` } });
      t.equal(r.status, 200);
      const m = PARENT_RE.exec(String(r.headers['grpc-metadata-echo-traceparent']));
      t.ok(m, 'the gRPC server got a traceparent');
      t.equal(m![1], tid);
      const call = await waitFor('the gRPC span', () => receiver.spans.find((s) => s.traceId === tid && attr(s, 'rpc.system') === 'grpc' && s.kind === 3));
      t.equal(attr(call, 'rpc.service'), 'demo.catalog.v1.Catalog');
      t.equal(attr(call, 'rpc.method'), 'Echo');
      t.equal(attr(call, 'rpc.grpc.status_code'), 0);
      const server = receiver.spans.find((s) => s.traceId === tid && s.kind === 2)!;
      t.equal(call.parentSpanId, server.spanId);
      t.ok(receiver.spans.find((s) => s.traceId === tid && s.name === 'transcoding queue'), 'queue wait has its span');
    });

    await t.test('an unsampled parent: propagated, not recorded', async (t) => {
      const tid = 'ffffeeeeddddccccbbbbaaaa99998888';
      const r = await request(`${gw.url}/items/2`, { headers: { ...key, traceparent: `00-${tid}-${CLIENT_SPAN}-00` } });
      t.equal(r.status, 200);
      const m = PARENT_RE.exec(String(up.seen.at(-1)!.headers.traceparent))!;
      t.equal(m[1], tid);
      t.equal(m[3], '00', 'not sampled');
      await new Promise((r) => setTimeout(r, 1500));
      t.equal(receiver.spans.filter((s) => s.traceId === tid).length, 0, 'nothing exported');
    });
  });
}

t.test('sampleRatio 0: new traces are not recorded, but traceparent is sent', async (t) => {
  const receiver = await startReceiver();
  const up = await startUpstream();
  const gw = await startGatewayProcess({ upstreams: { app: { targets: [{ url: up.url }] } }, routes: [{ match: { prefix: '/' }, upstream: 'app' }], observability: { tracing: { otlp: { endpoint: receiver.url }, sampleRatio: 0 } } }, 'uws');
  t.teardown(async () => { await gw.stop(); await up.close(); receiver.close(); });
  for (let i = 0; i < 20; i++) t.equal((await request(`${gw.url}/x`)).status, 200);
  t.ok(up.seen.every((s) => PARENT_RE.test(String(s.headers.traceparent)) && String(s.headers.traceparent).endsWith('-00')));
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(receiver.spans.length, 0);
});

t.test('no tracing configured: the client\'s traceparent passes untouched', async (t) => {
  const up = await startUpstream();
  const gw = await startGatewayProcess({ upstreams: { app: { targets: [{ url: up.url }] } }, routes: [{ match: { prefix: '/' }, upstream: 'app' }] }, 'uws');
  t.teardown(async () => { await gw.stop(); await up.close(); });
  const tp = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`;
  await request(`${gw.url}/x`, { headers: { traceparent: tp } });
  t.equal(up.seen.at(-1)!.headers.traceparent, tp);
});

t.test('an unreachable OTLP receiver costs nothing visible', async (t) => {
  const up = await startUpstream();
  const dead = await freePort();
  const gw = await startGatewayProcess({ upstreams: { app: { targets: [{ url: up.url }] } }, routes: [{ match: { prefix: '/' }, upstream: 'app' }], observability: { tracing: { otlp: { endpoint: `http://127.0.0.1:${dead}/v1/traces`, timeoutMs: 200 }, sampleRatio: 1 } } }, 'uws');
  t.teardown(async () => { await gw.stop(); await up.close(); });
  for (let i = 0; i < 10; i++) t.equal((await request(`${gw.url}/x`)).status, 200);
  await new Promise((r) => setTimeout(r, 1500));
  t.equal((await request(`${gw.url}/x`)).status, 200, 'still serving after failed exports');
});
