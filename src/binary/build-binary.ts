// npm run build:binary — the gateway as one executable, dist/gateway-<platform>-<arch>:
// esbuild bundles the CLI and the worker entries (front-end threads, the Piscina pool and
// Piscina's own worker) to CommonJS; they, the uWebSockets.js addon and the shipped protos
// become SEA assets (src/binary/sea-main.ts unpacks them); postject injects the blob into
// a copy of this node. Run after `npm run build` (it bundles dist/, not the TypeScript).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { manifestOf } from './asset-cache.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const DIST = join(ROOT, 'dist');
const WORK = join(DIST, 'binary-build');
/** Node's sentinel for the SEA blob (the same for every Node version with SEA). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export function binaryName(platform = process.platform, arch = process.arch): string {
  return `gateway-${platform}-${arch}${platform === 'win32' ? '.exe' : ''}`;
}

/** The bundles: asset name → entry (compiled JavaScript under dist/ or a package file). */
function entries(): Record<string, string> {
  const require = createRequire(import.meta.url);
  return {
    'sea-main.cjs': join(DIST, 'src', 'binary', 'sea-main.js'),
    'gateway.cjs': join(DIST, 'src', 'cli.js'),
    // the names the code looks for beside itself (new URL('./x.js', import.meta.url))
    'front-thread.js': join(DIST, 'src', 'gateway', 'front-thread.js'),
    'transcode-worker.js': join(DIST, 'src', 'transcode', 'transcode-worker.js'),
  };
}

/** Piscina ships unbundled, as node_modules/piscina beside the bundles: its worker entry and
 *  the gateway's pool workers must share one copy of it (Piscina.move marks a result with a
 *  module-private symbol that a second, bundled copy would not recognise). */
function piscinaFiles(): Map<string, string> {
  const require = createRequire(import.meta.url);
  const pkg = join(dirname(require.resolve('piscina')), '..'); // main is dist/main.js
  const files = new Map([['node_modules/piscina/package.json', join(pkg, 'package.json')]]);
  for (const f of filesUnder(join(pkg, 'dist'))) {
    if (f.endsWith('.js') || f.endsWith('.mjs')) files.set(assetPath('node_modules/piscina', pkg, f), f);
  }
  return files;
}

async function bundle(out: string, entry: string): Promise<void> {
  // import.meta.url in CommonJS: this bundle's own file, so the worker files and protos
  // are found beside it exactly as they are found beside the modules in dist/.
  const shim = join(WORK, 'import-meta-url.mjs');
  writeFileSync(shim, "import { pathToFileURL } from 'node:url';\nexport const importMetaUrl = pathToFileURL(__filename).href;\n");
  await build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    define: { 'import.meta.url': 'importMetaUrl' },
    inject: [shim],
    // the addon is loaded with process.dlopen from the extracted file; piscina is shipped
    // as a package beside the bundles (piscinaFiles)
    external: ['uWebSockets.js', 'piscina'],
    logLevel: 'error',
    legalComments: 'none',
  });
}

/** An asset's name: `prefix/` and the file's path under `root`, with forward slashes. */
function assetPath(prefix: string, root: string, file: string): string {
  return `${prefix}/${relative(root, file).split('\\').join('/')}`;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : []);
}

export async function buildBinary(): Promise<{ file: string; bytes: number }> {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const assets = new Map<string, string>(); // asset name → file
  for (const [name, entry] of Object.entries(entries())) {
    const out = join(WORK, name);
    await bundle(out, entry);
    if (name !== 'sea-main.cjs') assets.set(name, out);
  }
  const require = createRequire(import.meta.url);
  const addon = join(dirname(require.resolve('uWebSockets.js')), '..', 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
  assets.set('uws.node', addon);
  for (const [name, file] of piscinaFiles()) assets.set(name, file);
  const protos = join(ROOT, 'protos');
  for (const f of filesUnder(protos)) if (f.endsWith('.proto')) assets.set(assetPath('protos', protos, f), f);

  const contents = new Map([...assets].map(([name, file]) => [name, readFileSync(file)] as const));
  const manifestFile = join(WORK, 'manifest.json');
  writeFileSync(manifestFile, JSON.stringify(manifestOf(contents)));
  const seaConfig = join(WORK, 'sea-config.json');
  const blob = join(WORK, 'sea-prep.blob');
  writeFileSync(seaConfig, JSON.stringify({
    main: join(WORK, 'sea-main.cjs'),
    output: blob,
    disableExperimentalSEAWarning: true,
    assets: { 'manifest.json': manifestFile, ...Object.fromEntries(assets) },
  }));
  execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { stdio: ['ignore', 'ignore', 'inherit'] });

  const file = join(DIST, binaryName());
  rmSync(file, { force: true });
  copyFileSync(process.execPath, file);
  chmodSync(file, 0o755);
  const { inject } = require('postject') as { inject(file: string, name: string, data: Buffer, o: { sentinelFuse: string }): Promise<void> };
  await inject(file, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE });
  return { file, bytes: statSync(file).size };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { file, bytes } = await buildBinary();
  process.stdout.write(`${relative(ROOT, file)}: ${(bytes / 1048576).toFixed(1)} MB\n`);
}
