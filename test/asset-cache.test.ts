// The single executable's asset cache: extracted once, checked on every start, and refused
// when the directory could have been prepared by someone else.
import t from 'tap';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AssetCacheError, cacheBase, extractAssets, manifestOf } from '../src/binary/asset-cache.js';

const files = new Map<string, Uint8Array>([
  ['uws.node', Buffer.from('addon bytes')],
  ['protos/google/api/http.proto', Buffer.from('syntax = "proto3";')],
]);
const manifest = manifestOf(files);
const read = (name: string) => files.get(name)!;

function scratch(t: { teardown(f: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'gw-cache-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

t.test('extracts into <base>/<hash>, private, and reuses what is intact', async (t) => {
  const base = join(scratch(t), 'cache');
  let reads = 0;
  const dir = extractAssets(base, manifest, (n) => { reads++; return read(n); });
  t.equal(dir, join(base, manifest.hash.slice(0, 20)));
  t.equal(readFileSync(join(dir, 'uws.node'), 'utf8'), 'addon bytes');
  t.equal(readFileSync(join(dir, 'protos/google/api/http.proto'), 'utf8'), 'syntax = "proto3";');
  t.equal(statSync(dir).mode & 0o777, 0o700);
  t.equal(statSync(join(dir, 'uws.node')).mode & 0o777, 0o600);
  t.equal(reads, 2);
  extractAssets(base, manifest, (n) => { reads++; return read(n); });
  t.equal(reads, 2, 'a second start reads no asset');
  writeFileSync(join(dir, 'uws.node'), 'planted bytes');
  extractAssets(base, manifest, (n) => { reads++; return read(n); });
  t.equal(reads, 3, 'a changed file is written again');
  t.equal(readFileSync(join(dir, 'uws.node'), 'utf8'), 'addon bytes');
});

t.test('refuses a symlinked, shared or foreign directory', async (t) => {
  const root = scratch(t);
  const elsewhere = join(root, 'elsewhere');
  mkdirSync(elsewhere, { mode: 0o700 });
  symlinkSync(elsewhere, join(root, 'link'));
  t.throws(() => extractAssets(join(root, 'link'), manifest, read), { message: /symbolic link.*GATEWAY_CACHE_DIR/ });
  const shared = join(root, 'shared');
  mkdirSync(shared);
  chmodSync(shared, 0o777);
  t.throws(() => extractAssets(shared, manifest, read), new AssetCacheError(`refusing the cache directory ${shared}: others can write to it (mode 777). Set GATEWAY_CACHE_DIR to a directory only this user can write.`));
  const inner = join(root, 'ok');
  const dir = extractAssets(inner, manifest, read);
  chmodSync(join(dir, 'protos'), 0o775);
  t.throws(() => extractAssets(inner, manifest, read), { message: /protos: others can write/ }, 'every directory on the way is checked');
  if (process.getuid?.() === 0) {
    const foreign = join(root, 'foreign');
    mkdirSync(foreign, { mode: 0o700 });
    chownSync(foreign, 4321, 4321);
    t.throws(() => extractAssets(foreign, manifest, read), { message: /belongs to uid 4321/ });
  } else {
    t.comment('not root: a directory of another user cannot be made here');
  }
});

t.test('refuses an asset that does not match its manifest or leaves the directory', async (t) => {
  const root = scratch(t);
  t.throws(() => extractAssets(join(root, 'a'), manifest, () => Buffer.from('damaged')), { message: /asset protos\/google\/api\/http\.proto does not match its manifest/ });
  const escaping = manifestOf(new Map([['../x', Buffer.from('x')]]));
  t.throws(() => extractAssets(join(root, 'b'), escaping, () => Buffer.from('x')), { message: /leaves the cache directory/ });
});

t.test('the cache location', async (t) => {
  t.equal(cacheBase({ GATEWAY_CACHE_DIR: '/srv/gw', CACHE_DIRECTORY: '/var/cache/gw' }), '/srv/gw');
  t.equal(cacheBase({ CACHE_DIRECTORY: '/var/cache/gw:/var/cache/other' }), '/var/cache/gw', "systemd's CacheDirectory=");
  t.equal(cacheBase({ XDG_CACHE_HOME: '/x', HOME: '/h' }), '/x/edge-gateway');
  t.equal(cacheBase({ HOME: '/h' }), '/h/.cache/edge-gateway');
});
