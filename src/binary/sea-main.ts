// The single executable's entry (bundled to CommonJS, Node's SEA main script). It extracts
// the assets into the private cache and runs the bundled gateway from there, through the
// ordinary module loader: a SEA main script can only require built-ins and cannot import(),
// and worker threads (front-end threads, the Piscina pool) need their entry files on disk.
import { getAsset } from 'node:sea';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { AssetCacheError, cacheBase, extractAssets, type AssetManifest } from './asset-cache.js';
import { ASSET_DIR_ENV } from './embedded.js';

let dir: string;
try {
  const manifest = JSON.parse(getAsset('manifest.json', 'utf8')) as AssetManifest;
  dir = extractAssets(cacheBase(), manifest, (name) => new Uint8Array(getAsset(name)));
} catch (e) {
  process.stderr.write(`gateway: ${e instanceof AssetCacheError ? e.message : `cannot unpack the executable's assets: ${(e as Error).message}`}\n`);
  process.exit(1);
}
process.env[ASSET_DIR_ENV] = dir;
const entry = join(dir, 'gateway.cjs');
createRequire(entry)(entry);
