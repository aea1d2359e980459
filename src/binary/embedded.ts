// Where the single executable's assets were extracted (src/binary/sea-main.ts sets it).
// Read only inside a single executable: a plain `node dist/src/cli.js` never looks at the
// variable, so it cannot be pointed at another addon from outside.
import { isSea } from 'node:sea';
import { join } from 'node:path';

export const ASSET_DIR_ENV = 'GATEWAY_BINARY_ASSET_DIR';

/** The extracted file `name` (e.g. "uws.node") when running as the single executable. */
export function embeddedFile(name: string): string | undefined {
  const dir = process.env[ASSET_DIR_ENV];
  return dir && isSea() ? join(dir, name) : undefined;
}
