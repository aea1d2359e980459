// The floor for transcoding: a grpc-js client in one process calling Echo directly with
// `connections` calls in flight for `seconds`, the request already encoded (no JSON).
// Prints {rps, requests, errors}.
import grpc from '@grpc/grpc-js';
import { loadProtos } from '../src/transcode/proto-registry.js';
import { PROTO_DIR } from '../src/demo/catalog-service.js';
import { benchMessage } from './transcode-payloads.js';
import { toProtoObject } from '../src/transcode/json-codec.js';

const [port, inFlight, seconds, size] = [process.argv[2]!, Number(process.argv[3] ?? 50), Number(process.argv[4] ?? 10), process.argv[5] ?? 'small'];
const root = loadProtos({ files: ['demo/catalog.proto'], includeDirs: [PROTO_DIR] }, '.');
const T = root.lookupType('demo.catalog.v1.Everything');
// The same message as the REST clients send, as a grpc-js client holds it (native field
// values); per call it is encoded and the answer decoded, as a real client does.
const payload = toProtoObject(T, benchMessage(size as 'small' | 'large'), { root });
const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
const until = Date.now() + seconds * 1000;
let requests = 0, errors = 0;
const one = (): Promise<void> => new Promise((resolve) => {
  const bytes = Buffer.from(T.encode(T.fromObject(payload)).finish());
  client.makeUnaryRequest('/demo.catalog.v1.Catalog/Echo', (x: Buffer) => x, (x: Buffer) => x, bytes, new grpc.Metadata(), {}, (err, res) => {
    if (err) errors++;
    else { T.toObject(T.decode(res!), { longs: String, enums: String }); requests++; }
    resolve();
  });
});
const start = Date.now();
await Promise.all(Array.from({ length: inFlight }, async () => { while (Date.now() < until) await one(); }));
process.stdout.write(JSON.stringify({ rps: requests / ((Date.now() - start) / 1000), requests, errors }) + '\n');
process.exit(0);
