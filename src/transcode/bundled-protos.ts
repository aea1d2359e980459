// The protos shipped with the gateway (google/api, google/rpc, the demo's): the repository's
// protos/ folder, the nearest one above this module (it is compiled both to dist/src and,
// for the benchmarks, to bench/dist/src).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findProtoDir(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'protos');
    if (existsSync(join(candidate, 'google', 'api', 'http.proto'))) return candidate;
    if (dirname(dir) === dir) return join(from, '..', '..', '..', 'protos');
  }
}

export const BUNDLED_PROTO_DIR = findProtoDir(dirname(fileURLToPath(import.meta.url)));
