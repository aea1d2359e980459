// `requestHeaders` / `responseHeaders` edits, compiled once per route.
import type { HeaderOps } from '../../config/types.js';
import { removeHeaders } from '../../proxy/request-headers.js';

export interface CompiledHeaderOps {
  remove: ReadonlySet<string>;
  /** flat [name, value, ...], names lower-cased */
  add: readonly string[];
}

export function compileHeaderOps(ops: HeaderOps | undefined): CompiledHeaderOps | null {
  if (!ops || (!ops.add && !ops.remove)) return null;
  const add: string[] = [];
  for (const [k, v] of Object.entries(ops.add ?? {})) add.push(k.toLowerCase(), v);
  const remove = new Set((ops.remove ?? []).map((h) => h.toLowerCase()));
  // add replaces: remove the old values of every header we set
  for (let i = 0; i < add.length; i += 2) remove.add(add[i]!);
  return { remove, add };
}

/** Applies the edits to a flat header list in place. */
export function applyHeaderOps(flat: string[], ops: CompiledHeaderOps): void {
  if (ops.remove.size) removeHeaders(flat, ops.remove);
  for (let i = 0; i < ops.add.length; i++) flat.push(ops.add[i]!);
}
