// uWebSockets.js (through the npm alias) silently falls back to a slow JS imitation when
// its native binary does not load. We refuse that: the uws engine runs native or not at all.
import { createRequire } from 'node:module';
import { embeddedFile } from '../binary/embedded.js';

export type Uws = typeof import('uWebSockets.js');

export class UwsUnavailableError extends Error {}

let cached: Uws | undefined;

export function loadNativeUws(): Uws {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const warn = console.warn;
  const notes: string[] = [];
  console.warn = (...args: unknown[]) => { notes.push(args.map(String).join(' ')); };
  let uws: Uws;
  try {
    const addon = embeddedFile('uws.node');
    if (addon) {
      // The single executable carries the addon as an asset, extracted beside the bundle.
      const m = { exports: {} as Uws };
      process.dlopen(m, addon);
      uws = m.exports;
    } else {
      uws = require('uWebSockets.js') as Uws;
    }
  } catch (e) {
    throw new UwsUnavailableError(`uWebSockets.js could not be loaded (${(e as Error).message}). Set "engine: node" in the config to use the portable node:http engine.`);
  } finally {
    console.warn = warn;
  }
  const native = typeof uws.App === 'function' && /\[native code\]/.test(Function.prototype.toString.call(uws.App));
  if (!native || process.env.UWS_USE_FALLBACK) {
    const why = notes.join(' ').split('\n').find((l) => l.trim()) ?? 'the JS fallback was selected';
    throw new UwsUnavailableError(
      `uWebSockets.js native binary did not load for node ${process.version} (${process.platform}-${process.arch}, ABI ${process.versions.modules}): ${why.trim()}\n` +
      'Refusing to run the uws engine on its slow JS fallback. Set "engine: node" in the config (or pass --engine node) to use the portable node:http engine.',
    );
  }
  cached = uws;
  return uws;
}
