// Extracts the single executable's assets (the uWebSockets.js addon, the bundled worker
// entries, the shipped protos) into a private cache directory keyed by their content hash,
// once: a later start finds them, checks every file against the manifest and reuses them.
// The directory must be ours: owned by this user, not a symlink, writable by nobody else
// (a shared /tmp is where someone else could plant an addon for us to dlopen).
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, writeSync, type Stats } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface AssetManifest {
  /** sha256 over every file's name and hash: the cache directory's name */
  hash: string;
  files: Record<string, { sha256: string; size: number }>;
}

export class AssetCacheError extends Error {}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The manifest of `files` (name → contents), as the build writes it. */
export function manifestOf(files: Map<string, Uint8Array>): AssetManifest {
  const entries = [...files.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
  const out: AssetManifest['files'] = {};
  const all = createHash('sha256');
  for (const [name, data] of entries) {
    const h = sha256(data);
    out[name] = { sha256: h, size: data.byteLength };
    all.update(`${name}\0${h}\n`);
  }
  return { hash: all.digest('hex'), files: out };
}

/**
 * Where the cache lives: GATEWAY_CACHE_DIR, systemd's CACHE_DIRECTORY (CacheDirectory=),
 * $XDG_CACHE_HOME or ~/.cache, else the temporary directory with the user id in the name.
 */
export function cacheBase(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GATEWAY_CACHE_DIR) return env.GATEWAY_CACHE_DIR;
  if (env.CACHE_DIRECTORY) return env.CACHE_DIRECTORY.split(':')[0]!;
  const xdg = env.XDG_CACHE_HOME || (env.HOME || safeHome()) && join(env.HOME || safeHome()!, '.cache');
  if (xdg) return join(xdg, 'edge-gateway');
  return join(tmpdir(), `edge-gateway-${process.getuid?.() ?? 'user'}`);
}

function safeHome(): string | undefined {
  try { return homedir() || undefined; } catch { return undefined; }
}

function refuse(path: string, why: string): never {
  throw new AssetCacheError(`refusing the cache directory ${path}: ${why}. Set GATEWAY_CACHE_DIR to a directory only this user can write.`);
}

/** Ours and private enough: a real directory (no symlink), owned by us, no group/other write. */
function checkDir(path: string, st: Stats): void {
  if (st.isSymbolicLink()) refuse(path, 'it is a symbolic link');
  if (!st.isDirectory()) refuse(path, 'it is not a directory');
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) refuse(path, `it belongs to uid ${st.uid}, not to this user (${uid})`);
  if ((st.mode & 0o022) !== 0) refuse(path, `others can write to it (mode ${(st.mode & 0o777).toString(8)})`);
}

function lstatOrNull(path: string): Stats | null {
  try { return lstatSync(path); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Creates `path` (mode 0700) if missing and checks it. */
function privateDir(path: string): void {
  let st = lstatOrNull(path);
  if (!st) {
    try { mkdirSync(path, { mode: 0o700 }); } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new AssetCacheError(`cannot create the cache directory ${path}: ${(e as Error).message}`);
    }
    st = lstatSync(path);
  }
  checkDir(path, st);
}

/** The file holds exactly what the manifest says (a regular file of ours, same size, same hash). */
function intact(path: string, want: { sha256: string; size: number }): boolean {
  const st = lstatOrNull(path);
  if (!st || !st.isFile() || st.size !== want.size) return false;
  if (st.uid !== process.getuid?.()) return false;
  return sha256(readFileSync(path)) === want.sha256;
}

/** Written beside its place and renamed into it: concurrent starts never see half a file. */
function writeAtomically(path: string, data: Uint8Array): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    let off = 0;
    while (off < data.byteLength) off += writeSync(fd, data, off, data.byteLength - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/**
 * Makes `<base>/<hash>` hold every asset of `manifest` (read with `read`) and returns it.
 * Files already there are checked against their hash and rewritten if they differ.
 */
export function extractAssets(base: string, manifest: AssetManifest, read: (name: string) => Uint8Array): string {
  const baseParent = dirname(base);
  if (!lstatOrNull(baseParent)) mkdirSync(baseParent, { recursive: true, mode: 0o700 });
  privateDir(base);
  const dir = join(base, manifest.hash.slice(0, 20));
  privateDir(dir);
  for (const [name, want] of Object.entries(manifest.files)) {
    if (name.startsWith('/') || name.split(/[\\/]/).includes('..')) throw new AssetCacheError(`asset name ${name} leaves the cache directory`);
    const path = join(dir, name);
    // every directory between the cache directory and the file is ours too
    let at = dir;
    for (const part of name.split('/').slice(0, -1)) { at = join(at, part); privateDir(at); }
    if (intact(path, want)) continue;
    const data = read(name);
    if (data.byteLength !== want.size || sha256(data) !== want.sha256) throw new AssetCacheError(`the executable's asset ${name} does not match its manifest (a damaged binary?)`);
    writeAtomically(path, data);
  }
  return dir;
}
