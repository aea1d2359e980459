// Authentication on a route: the first of its authenticators that finds a valid credential
// identifies the caller (whether they may use the route is the acl policy's question).
// Stays synchronous unless an authenticator has to verify a token it has not seen yet.
import type { RequestHead } from '../../server/types.js';
import { isRejection, type Authenticator, type Identity, type Verdict } from './identity.js';

export type AuthResult =
  | { kind: 'ok'; identity: Identity }
  | { kind: 'missing'; challenge: string }
  | { kind: 'invalid'; reason: string; challenge: string };

export class RouteAuth {
  private readonly list: Authenticator[];
  private readonly missing: AuthResult;
  /** query parameters and cookies that carry credentials and are removed before forwarding */
  readonly hideQuery: ReadonlySet<string> | null;
  readonly hideCookies: ReadonlySet<string> | null;

  constructor(names: readonly string[], authenticators: ReadonlyMap<string, Authenticator>) {
    this.list = names.map((name) => authenticators.get(name)!);
    const q = this.list.map((a) => a.hidden?.query).filter((n): n is string => !!n);
    const c = this.list.map((a) => a.hidden?.cookie).filter((n): n is string => !!n);
    this.hideQuery = q.length ? new Set(q) : null;
    this.hideCookies = c.length ? new Set(c) : null;
    this.missing = { kind: 'missing', challenge: this.list.map((a) => a.challenge).join(', ') };
  }

  check(head: RequestHead, query: () => URLSearchParams): AuthResult | Promise<AuthResult> {
    return this.from(0, head, query, null);
  }

  private from(i: number, head: RequestHead, query: () => URLSearchParams, rejected: AuthResult | null): AuthResult | Promise<AuthResult> {
    for (; i < this.list.length; i++) {
      const v = this.list[i]!.authenticate(head, query);
      if (v instanceof Promise) {
        const next = i + 1;
        return v.then((r) => {
          const out = this.judge(r);
          return out ?? this.from(next, head, query, rejected ?? this.rejectionOf(r));
        });
      }
      const out = this.judge(v);
      if (out) return out;
      rejected ??= this.rejectionOf(v);
    }
    return rejected ?? this.missing;
  }

  private rejectionOf(v: Verdict): AuthResult | null {
    return isRejection(v) ? { kind: 'invalid', reason: v.invalid, challenge: v.challenge } : null;
  }

  /** A decision when the verdict identifies someone, else null (try the next authenticator). */
  private judge(v: Verdict): AuthResult | null {
    if (v === 'absent' || isRejection(v)) return null;
    return { kind: 'ok', identity: v };
  }
}
