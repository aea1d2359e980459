// Every policy and authenticator kind the gateway knows, in the order the runner calls
// them on a request (docs/pipeline.md). Adding one is a folder under src/policies/ and a
// line here (docs/extending.md).
import type { PolicyFactory } from '../pipeline/policy.js';
import type { AuthenticatorKind } from './auth/identity.js';
import { ipFilterPolicy } from './ip-filter/index.js';
import { corsPolicy } from './cors/index.js';
import { authPolicy } from './auth/index.js';
import { apiKeyAuth } from './auth-api-key/index.js';
import { jwtAuth } from './auth-jwt/index.js';
import { aclPolicy } from './acl/index.js';
import { rateLimitPolicy } from './rate-limit/index.js';
import { quotaPolicy } from './quota/index.js';
import { validatePolicy } from './validate/index.js';
import { headersPolicy } from './headers/index.js';

export const AUTHENTICATORS: readonly AuthenticatorKind[] = [
  apiKeyAuth,
  jwtAuth,
];

const POLICIES: PolicyFactory[] = [
  ipFilterPolicy,
  corsPolicy,
  authPolicy(AUTHENTICATORS),
  aclPolicy,
  rateLimitPolicy,
  quotaPolicy,
  validatePolicy,
  headersPolicy,
];

/** The policies, in request order. */
export function policies(): readonly PolicyFactory[] {
  return POLICIES;
}

const listeners: Array<() => void> = [];

/** Called when the list changes (the config schema is assembled again). */
export function onPoliciesChanged(cb: () => void): void {
  listeners.push(cb);
}

/**
 * Adds a policy from outside this folder (an embedding program, a test fixture), before
 * the one named `before` (default: last). Its route keys join the config schema at once.
 */
export function registerPolicy(factory: PolicyFactory, before?: string): void {
  if (POLICIES.some((p) => p.id === factory.id)) throw new Error(`a policy "${factory.id}" is already registered`);
  const at = before === undefined ? -1 : POLICIES.findIndex((p) => p.id === before);
  if (before !== undefined && at < 0) throw new Error(`no policy "${before}" to register "${factory.id}" before`);
  if (at < 0) POLICIES.push(factory);
  else POLICIES.splice(at, 0, factory);
  for (const cb of listeners) cb();
}

const modules: string[] = [];

/** The policy modules loaded with loadPolicyModules (front-end threads load the same). */
export function policyModules(): readonly string[] {
  return modules;
}

/**
 * Loads policies that live outside src/policies (`gateway --policy FILE`): each module's
 * default export is a PolicyFactory; an optional `before` export names the policy it runs
 * before (default: after every built-in one). Loading the same file twice is a no-op.
 */
export async function loadPolicyModules(files: readonly string[]): Promise<void> {
  const { pathToFileURL } = await import('node:url');
  const { resolve } = await import('node:path');
  for (const file of files) {
    const url = file.startsWith('file:') ? file : pathToFileURL(resolve(file)).href;
    if (modules.includes(url)) continue;
    const mod = (await import(url)) as { default?: PolicyFactory; before?: string };
    const f = mod.default;
    if (!f || typeof f.id !== 'string' || typeof f.compile !== 'function') throw new Error(`${file}: the default export is not a policy factory (id, compile)`);
    registerPolicy(f, mod.before);
    modules.push(url);
  }
}
