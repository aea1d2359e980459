// What an authenticator hands the rest of the pipeline: who the caller is, the scopes
// their token grants, and headers to send upstream (claims mapped to headers).
import type { RequestHead } from '../../server/types.js';
import type { Consumer } from './consumers.js';

export interface Identity {
  readonly consumer: Consumer;
  readonly scopes: readonly string[];
  /** flat [name, value, ...] added to the upstream request */
  readonly headers: readonly string[];
  /** a verified token's claims (JWT), for aggregate placeholders ({identity.claims.sub}) */
  readonly claims?: Readonly<Record<string, unknown>>;
}

/** Not valid: why (sent to the client), and the WWW-Authenticate challenge to send. */
export interface Rejection { readonly invalid: string; readonly challenge: string }

/** 'absent': this authenticator found no credential of its kind in the request. */
export type Verdict = Identity | Rejection | 'absent';

export interface Authenticator {
  /** WWW-Authenticate challenge for a request without credentials */
  readonly challenge: string;
  /** Synchronous when it can be (API keys, cached tokens); a promise when it must verify. */
  authenticate(head: RequestHead, query: () => URLSearchParams): Verdict | Promise<Verdict>;
  /** Where this authenticator reads a credential that must not be forwarded (hideCredentials). */
  readonly hidden?: { readonly query?: string; readonly cookie?: string };
  /** Prefetch what the first request would otherwise wait for (JWKS). Never rejects. */
  start?(): Promise<void>;
}

export function isRejection(v: Verdict): v is Rejection {
  return typeof v === 'object' && 'invalid' in v;
}

/** One kind of authenticator (`auth.NAME.type`): a folder under src/policies/auth-<type>/, listed in the registry. */
export interface AuthenticatorKind {
  readonly type: string;
  readonly summary: string;
  /** the schema of `auth.NAME` for this type (its `type` property is `{ const: type }`) */
  readonly schema: Record<string, unknown>;
  /** What the schema cannot say; may read files the config names into the normalised config (`at`: "auth.NAME"). */
  resolve?(cfg: Record<string, unknown>, at: string, env: import('../../pipeline/policy.js').CheckEnv): void;
  create(name: string, cfg: Record<string, unknown>, consumers: import('./consumers.js').ConsumerRegistry): Authenticator;
}
