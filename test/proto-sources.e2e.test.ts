// Where a gRPC upstream's descriptors come from besides .proto files: a FileDescriptorSet
// file (protoc --include_imports, as Envoy's proto_descriptor) and the upstream's server
// reflection. Reflection is tried against two real grpc-js servers: one with
// @grpc/reflection (whose descriptors, rebuilt by proto-loader, carry no google.api.http
// options), and one serving protoc's original descriptors as grpc-go does — v1alpha only,
// and without the imported files, which the gateway must then ask for by name.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { ReflectionService } from '@grpc/reflection';
import { ENGINES, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.js';
import { request } from './helpers/client.js';
import { startCatalogServer, type CatalogServer } from '../src/demo/catalog-service.js';
import { ConfigError, parseConfig } from '../src/config/load.js';
import { startGateway } from '../src/gateway/runtime.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SET = join(ROOT, 'test', 'fixtures', 'descriptors', 'catalog.binpb');
const SET_NO_IMPORTS = join(ROOT, 'test', 'fixtures', 'descriptors', 'catalog-no-imports.binpb');
const REFLECTION_PROTO = join(ROOT, 'node_modules', '@grpc', 'reflection', 'build', 'proto', 'grpc', 'reflection', 'v1alpha', 'reflection.proto');

const upstream = (port: number, protos: Record<string, unknown>) => ({ protocol: 'grpc', targets: [{ url: `grpc://127.0.0.1:${port}` }], protos });

async function getBook(gw: GatewayProcess): Promise<{ status: number; title?: string; body: string }> {
  const r = await request(`${gw.url}/v1/shelves/classics/books/1`);
  return { status: r.status, title: r.json?.title, body: r.body };
}

t.test('descriptorSet: a protoc FileDescriptorSet replaces the .proto files', async (t) => {
  const server = await startCatalogServer();
  t.teardown(() => server.close());
  for (const engine of ENGINES) {
    await t.test(`${engine} engine`, async (t) => {
      const gw = await startGatewayProcess({ upstreams: { catalog: upstream(server.port, { descriptorSet: SET }) }, routes: [{ name: 'catalog', transcode: { upstream: 'catalog' } }] }, engine);
      t.teardown(() => gw.stop());
      const book = await getBook(gw);
      t.equal(book.status, 200, book.body);
      t.equal(book.title, 'Sketch of the Analytical Engine', 'a google.api.http GET binding from the set');
      const created = await request(`${gw.url}/v1/shelves/classics/books`, { method: 'POST', body: JSON.stringify({ title: 'From a set', isbn: '9', published: '2020-01-02T03:04:05Z' }), headers: { 'content-type': 'application/json' } });
      t.equal(created.status, 200, created.body);
      t.equal(created.json.published, '2020-01-02T03:04:05Z', 'well-known types (Timestamp) come from the set too');
      const stream = await request(`${gw.url}/v1/shelves/classics:watch?page_size=2`);
      t.equal(stream.status, 200);
      t.equal(stream.body.trim().split('\n').length, 2, 'a server-streaming method from the set');
      const missing = await request(`${gw.url}/v1/shelves/classics/books/missing`);
      t.equal(missing.status, 404, 'gRPC NOT_FOUND is a 404');
    });
  }
});

t.test('descriptorSet problems are listed by path', async (t) => {
  const grpcUp = (protos: Record<string, unknown>) => `
upstreams:
  catalog: { protocol: grpc, targets: [ { url: "grpc://127.0.0.1:1" } ], protos: ${JSON.stringify(protos)} }
routes:
  - { name: catalog, transcode: { upstream: catalog } }
`;
  const problems = (yaml: string): string[] => {
    try { parseConfig(yaml, 'test'); return []; } catch (e) { return (e as ConfigError).problems ?? [String(e)]; }
  };
  const dir = t.testdir({ 'not-a-set.binpb': readFileSync(join(ROOT, 'protos', 'demo', 'catalog.proto')) });
  t.match(problems(grpcUp({ descriptorSet: join(dir, 'absent.binpb') })), [/^upstreams\.catalog\.protos\.descriptorSet: cannot read ".*absent\.binpb"/]);
  t.match(problems(grpcUp({ descriptorSet: join(dir, 'not-a-set.binpb') })), [/^upstreams\.catalog\.protos\.descriptorSet: not a FileDescriptorSet/]);
  t.match(problems(grpcUp({ descriptorSet: SET_NO_IMPORTS })), [/^upstreams\.catalog\.protos\.descriptorSet: .*--include_imports/], 'a set without its imports says how to build it');
  t.match(problems(grpcUp({ descriptorSet: SET, files: ['demo/catalog.proto'] })), ['upstreams.catalog.protos: give one of files, descriptorSet or reflection: true']);
  t.match(problems(grpcUp({ includeDirs: ['.'] })), ['upstreams.catalog.protos: give one of files, descriptorSet or reflection: true']);
  t.match(problems(grpcUp({ reflection: true, descriptors: 'AAAA' })), ['upstreams.catalog.protos: unknown key "descriptors"'], 'descriptors are the gateway\'s to fill in, not a config key');
  t.same(problems(grpcUp({ reflection: true })), [], 'a reflection upstream is not contacted by validation');
  // A config sent to the admin API names files only inside the config's directory.
  let confined: string[] = [];
  try { parseConfig(grpcUp({ descriptorSet: SET }), 'reload body', { baseDir: dir, confineFiles: true }); } catch (e) { confined = (e as ConfigError).problems; }
  t.match(confined, [/^upstreams\.catalog\.protos\.descriptorSet: ".*catalog\.binpb" is outside the config directory/]);
});

/** The FileDescriptorProtos inside a FileDescriptorSet, by file name. */
function filesOf(set: Uint8Array): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const nameOf = (bytes: Uint8Array) => {
    const r = protobuf.Reader.create(bytes);
    while (r.pos < r.len) { const tag = r.uint32(); if (tag >>> 3 === 1) return r.string(); r.skipType(tag & 7); }
    return '';
  };
  const r = protobuf.Reader.create(set);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 !== 1) { r.skipType(tag & 7); continue; }
    const f = r.bytes();
    out.set(nameOf(f), f);
  }
  return out;
}

interface ProtocReflection { server: CatalogServer; requests: number; failing: boolean }

/** The catalog with a v1alpha reflection service that answers with protoc's descriptors, the
 * file of a symbol without its imports (they are given on file_by_filename). */
async function startProtocReflectionServer(): Promise<ProtocReflection> {
  const files = filesOf(readFileSync(SET));
  const types = protobuf.loadSync(REFLECTION_PROTO);
  const Req = types.lookupType('grpc.reflection.v1alpha.ServerReflectionRequest');
  const Res = types.lookupType('grpc.reflection.v1alpha.ServerReflectionResponse');
  const state = { requests: 0, failing: false } as ProtocReflection;
  const id = (b: Buffer) => b;
  state.server = await startCatalogServer(0, undefined, (server) => {
    server.addService({
      ServerReflectionInfo: { path: '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo', requestStream: true, responseStream: true, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
    } as grpc.ServiceDefinition, {
      ServerReflectionInfo: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.on('data', (b: Buffer) => {
          state.requests++;
          if (state.failing) { call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'reflection is down' }); return; }
          const q = Req.toObject(Req.decode(b)) as Record<string, string>;
          let answer: Record<string, unknown>;
          if (q.listServices !== undefined) answer = { listServicesResponse: { service: [{ name: 'demo.catalog.v1.Catalog' }, { name: 'grpc.reflection.v1alpha.ServerReflection' }] } };
          else if (q.fileContainingSymbol === 'demo.catalog.v1.Catalog') answer = { fileDescriptorResponse: { fileDescriptorProto: [files.get('demo/catalog.proto')] } };
          else if (q.fileByFilename && files.has(q.fileByFilename)) answer = { fileDescriptorResponse: { fileDescriptorProto: [files.get(q.fileByFilename)] } };
          else answer = { errorResponse: { errorCode: grpc.status.NOT_FOUND, errorMessage: 'not found' } };
          call.write(Buffer.from(Res.encode(Res.fromObject({ originalRequest: q, ...answer })).finish()));
        });
        call.on('end', () => call.end());
      },
    });
  });
  return state;
}

t.test('reflection: descriptors read from the upstream', async (t) => {
  const protoc = await startProtocReflectionServer();
  t.teardown(() => protoc.server.close());
  const withLib = await startCatalogServer(0, undefined, (server, def) => new ReflectionService(def).addToServer(server));
  t.teardown(() => withLib.close());
  for (const engine of ENGINES) {
    await t.test(`${engine} engine: protoc descriptors over v1alpha, imports asked for by name`, async (t) => {
      const before = protoc.requests;
      const gw = await startGatewayProcess({ upstreams: { catalog: upstream(protoc.server.port, { reflection: true }) }, routes: [{ name: 'catalog', transcode: { upstream: 'catalog' } }] }, engine);
      t.teardown(() => gw.stop());
      t.ok(protoc.requests - before >= 3, `list, the symbol's file and its imports (${protoc.requests - before} requests)`);
      const book = await getBook(gw);
      t.equal(book.status, 200, book.body);
      t.equal(book.title, 'Sketch of the Analytical Engine', 'the google.api.http rules came with the reflected descriptors');
      const bad = await request(`${gw.url}/v1/shelves/classics/books`, { method: 'POST', body: '{"title": 5}', headers: { 'content-type': 'application/json' } });
      t.equal(bad.status, 400, 'the request is checked against the reflected message types');
    });
    await t.test(`${engine} engine: @grpc/reflection (no HTTP rules: the fallback binding)`, async (t) => {
      const gw = await startGatewayProcess({ upstreams: { catalog: upstream(withLib.port, { reflection: true }) }, routes: [{ name: 'catalog', transcode: { upstream: 'catalog', fallback: true } }] }, engine);
      t.teardown(() => gw.stop());
      const r = await request(`${gw.url}/demo.catalog.v1.Catalog/GetBook`, { method: 'POST', body: JSON.stringify({ name: 'shelves/classics/books/2' }), headers: { 'content-type': 'application/json' } });
      t.equal(r.status, 200, r.body);
      t.equal(r.json.title, 'On Computable Numbers');
      t.equal((await getBook(gw)).status, 404, 'proto-loader dropped the google.api.http options: no REST binding');
    });
  }

  /** Starts an in-process gateway on a reflection upstream; resolves what the start threw. */
  const startError = (port: number, transcode: string): Promise<unknown> => {
    const config = parseConfig(`
threads: 1
listen: { host: 127.0.0.1, port: 0 }
admin: { enabled: false }
upstreams:
  catalog: { protocol: grpc, targets: [ { url: "grpc://127.0.0.1:${port}" } ], protos: { reflection: true } }
routes:
  - { name: catalog, transcode: ${transcode} }
`, 'test');
    return startGateway({ config, engine: 'node' }).then(() => null, (e: unknown) => e);
  };

  await t.test('a service the reflected descriptors lack is a config error at start', async (t) => {
    const err = await startError(protoc.server.port, '{ upstream: catalog, services: [demo.catalog.v1.Nope] }');
    t.ok(err instanceof ConfigError, String(err));
    t.same((err as ConfigError).problems, [
      'routes[0].transcode.services[0]: no service "demo.catalog.v1.Nope" in the protos of "catalog"',
      'routes[0].transcode: the services have no google.api.http bindings (set fallback: true to expose POST /package.Service/Method)',
    ]);
  });

  await t.test('an unreachable upstream stops the start with a clear error', async (t) => {
    const err = await startError(1, '{ upstream: catalog }');
    t.ok(err instanceof ConfigError, String(err));
    t.match((err as ConfigError).problems, [/^upstreams\.catalog\.protos\.reflection: server reflection failed \(grpc:\/\/127\.0\.0\.1:1: /]);
  });

  await t.test('reload reads the descriptors again; a failed read keeps the old ones', async (t) => {
    const gw = await startGatewayProcess({ upstreams: { catalog: upstream(protoc.server.port, { reflection: true }) }, routes: [{ name: 'catalog', transcode: { upstream: 'catalog' } }] }, 'node');
    t.teardown(() => gw.stop());
    // SIGHUP re-reads the file; the log says how it went.
    const reload = async (): Promise<'reloaded' | 'failed'> => {
      const outcomes = () => gw.output().match(/"config reloaded"|"reload failed; keeping the running config"/g) ?? [];
      const n = outcomes().length;
      gw.proc.kill('SIGHUP');
      for (let i = 0; i < 300 && outcomes().length === n; i++) await new Promise((r) => setTimeout(r, 50));
      const last = outcomes()[n];
      return last === undefined ? Promise.reject(new Error('no reload outcome logged')) : last.includes('failed') ? 'failed' : 'reloaded';
    };
    let before = protoc.requests;
    t.equal(await reload(), 'reloaded');
    t.ok(protoc.requests > before, 'a reload asks the upstream again');
    protoc.failing = true;
    t.teardown(() => { protoc.failing = false; });
    before = protoc.requests;
    t.equal(await reload(), 'reloaded', 'the reload goes through');
    t.ok(protoc.requests > before, 'the reflection service was asked');
    t.match(gw.output(), /server reflection failed; keeping the descriptors read before/);
    const book = await getBook(gw);
    t.equal(book.status, 200, `still transcoding with the descriptors read at start: ${book.body}`);
    protoc.failing = false;
    // A new config whose transcoding route needs a service the descriptors lack is refused.
    writeFileSync(gw.configFile, readFileSync(gw.configFile, 'utf8').replace('upstream: catalog\n', 'upstream: catalog\n      services:\n        - demo.catalog.v1.Nope\n'));
    t.equal(await reload(), 'failed', 'a config checked against the reflected descriptors is refused');
    t.match(gw.output(), /no service \\"demo\.catalog\.v1\.Nope\\"/);
    t.equal((await getBook(gw)).status, 200, 'and the running one stays');
  });
});
