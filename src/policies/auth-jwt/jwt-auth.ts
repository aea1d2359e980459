// JWT bearer tokens (jose): signature with the allowed algorithms only (so `alg: none` and an
// HS token against an RSA key fail), exp/nbf/iat with clock skew, issuer and audience
// allow-lists, required claims. A verified token is cached by its full text (signature
// included), bounded in count and by its `exp`, so repeat callers cost one map lookup.
import { jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import { LRUCache } from 'lru-cache';
import type { JwtAuthConfig } from '../../config/types.js';
import type { RequestHead } from '../../server/types.js';
import { findHeader } from '../../proxy/request-headers.js';
import { cookieValue } from '../../proxy/credentials.js';
import type { Consumer, ConsumerRegistry } from '../auth/consumers.js';
import type { Authenticator, Identity, Rejection, Verdict } from '../auth/identity.js';
import { JwksSource, KeyUnavailableError, staticKeyResolver, type KeyResolver } from './jwt-keys.js';

const BEARER = /^Bearer[ \t]+([A-Za-z0-9._~+/=-]+)[ \t]*$/i;
// Claims copied into headers: visible ASCII only (anything else could not be forwarded as is).
const UNSAFE_HEADER_VALUE = /[^\t\x20-\x7e]/;


function headerValueOf(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  const s = typeof v === 'string' ? v : Array.isArray(v) ? v.join(',') : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return UNSAFE_HEADER_VALUE.test(s) ? undefined : s;
}

function scopesOf(p: JWTPayload): string[] {
  const raw = p.scope ?? p.scp;
  if (typeof raw === 'string') return raw.split(' ').filter(Boolean);
  if (Array.isArray(raw)) return raw.filter((s): s is string => typeof s === 'string');
  return [];
}

/** jose's messages are fixed texts (no key material); a few are made plainer. */
function reasonOf(e: unknown): string {
  const code = (e as { code?: string }).code;
  if (code === 'ERR_JWT_EXPIRED') return 'token expired';
  if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') return 'signature verification failed';
  if (code === 'ERR_JOSE_ALG_NOT_ALLOWED') return 'token algorithm not allowed';
  if (code === 'ERR_JWS_INVALID' || code === 'ERR_JWT_INVALID') return 'malformed token';
  if (code === 'ERR_JWKS_NO_MATCHING_KEY') return 'no key matches the token (kid)';
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') return (e as Error).message;
  if (code === 'ERR_JOSE_NOT_SUPPORTED') return 'token algorithm not supported';
  if (e instanceof KeyUnavailableError) return e.message;
  return 'token could not be verified';
}

export class JwtAuthenticator implements Authenticator {
  readonly challenge = 'Bearer realm="edge-gateway"';
  private readonly cache: LRUCache<string, Identity> | null;
  private readonly resolver: KeyResolver;
  private readonly jwks: JwksSource | null;
  private readonly options: JWTVerifyOptions;
  private readonly header: string;
  private readonly claimHeaders: Array<[string, string]>;
  readonly hidden: { query?: string; cookie?: string } | undefined;

  constructor(readonly name: string, private readonly cfg: JwtAuthConfig, private readonly registry: ConsumerRegistry) {
    this.header = cfg.header.toLowerCase();
    this.hidden = cfg.hideCredentials && (cfg.query || cfg.cookie) ? { query: cfg.query, cookie: cfg.cookie } : undefined;
    this.jwks = cfg.jwksUrl ? new JwksSource(name, cfg.jwksUrl, cfg.jwks) : null;
    const fixed = cfg.keys?.length ? staticKeyResolver(cfg.keys) : null;
    const jwks = this.jwks;
    // Config keys first; the JWKS for what they do not cover.
    this.resolver = fixed && jwks ? async (h, t) => { try { return fixed(h, t); } catch { return jwks.resolve(h, t); } } : (fixed ?? jwks!.resolve);
    this.options = {
      algorithms: cfg.algorithms,
      issuer: cfg.issuers,
      audience: cfg.audiences,
      clockTolerance: cfg.clockSkewSec,
      requiredClaims: cfg.requiredClaims,
      maxTokenAge: cfg.maxAgeSec,
    };
    this.claimHeaders = Object.entries(cfg.claimHeaders ?? {}).map(([claim, header]) => [claim, header.toLowerCase()]);
    this.cache = cfg.cache.maxTokens > 0 ? new LRUCache({ max: cfg.cache.maxTokens, ttl: cfg.cache.ttlSec * 1000 }) : null;
  }

  start(): Promise<void> {
    return this.jwks ? this.jwks.start() : Promise.resolve();
  }

  get jwksStats(): { fetches: number; failures: number } | null {
    return this.jwks ? { fetches: this.jwks.fetches, failures: this.jwks.failures } : null;
  }

  private tokenOf(head: RequestHead, query: () => URLSearchParams): string | undefined {
    const h = findHeader(head.rawHeaders, this.header);
    if (h !== undefined) {
      if (this.header !== 'authorization') return h.trim() || undefined;
      const m = BEARER.exec(h);
      if (m) return m[1];
      // Another scheme (Basic, ...) belongs to another authenticator.
    }
    if (this.cfg.query) {
      const q = query().get(this.cfg.query);
      if (q) return q;
    }
    return this.cfg.cookie ? cookieValue(findHeader(head.rawHeaders, 'cookie'), this.cfg.cookie) : undefined;
  }

  authenticate(head: RequestHead, query: () => URLSearchParams): Verdict | Promise<Verdict> {
    const token = this.tokenOf(head, query);
    if (token === undefined) return 'absent';
    const hit = this.cache?.get(token);
    if (hit) return hit;
    return this.verify(token);
  }

  private reject(reason: string): Rejection {
    return { invalid: reason, challenge: `Bearer realm="edge-gateway", error="invalid_token", error_description="${reason.replace(/["\\]/g, '')}"` };
  }

  private async verify(token: string): Promise<Verdict> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.resolver, this.options));
    } catch (e) {
      return this.reject(reasonOf(e));
    }
    const now = Date.now();
    const skewMs = this.cfg.clockSkewSec * 1000;
    if (typeof payload.iat === 'number' && payload.iat * 1000 > now + skewMs) return this.reject('token issued in the future (iat)');
    const identity = this.identityOf(payload);
    if (typeof identity === 'string') return this.reject(identity);
    if (this.cache) {
      // Never past exp (plus the same skew the check allowed).
      const ttl = typeof payload.exp === 'number' ? Math.min(this.cfg.cache.ttlSec * 1000, payload.exp * 1000 + skewMs - now) : undefined;
      if (ttl === undefined || ttl > 0) this.cache.set(token, identity, { ttl });
    }
    return identity;
  }

  /** The identity a verified token stands for, or why it is refused. */
  private identityOf(p: JWTPayload): Identity | string {
    const id = p[this.cfg.consumerClaim];
    if (typeof id !== 'string' || id === '') return `token has no "${this.cfg.consumerClaim}" claim`;
    if (UNSAFE_HEADER_VALUE.test(id)) return `the "${this.cfg.consumerClaim}" claim is not a valid identifier`;
    const known = this.registry.byId(id);
    if (!known && this.cfg.requireConsumer) return `unknown consumer "${id.slice(0, 64)}"`;
    const claimGroups = this.cfg.groupsClaim ? p[this.cfg.groupsClaim] : undefined;
    const groups = (Array.isArray(claimGroups) ? claimGroups : typeof claimGroups === 'string' ? claimGroups.split(/[ ,]/) : [])
      .filter((g): g is string => typeof g === 'string' && g !== '' && !UNSAFE_HEADER_VALUE.test(g) && !g.includes(','));
    const consumer: Consumer = known
      ? groups.length ? { ...known, groups: [...new Set([...known.groups, ...groups])] } : known
      : { id, plan: undefined, groups, tenant: undefined };
    const headers: string[] = [];
    for (const [claim, header] of this.claimHeaders) {
      const v = headerValueOf(p[claim]);
      if (v !== undefined) headers.push(header, v);
    }
    return Object.freeze({ consumer, scopes: scopesOf(p), headers, claims: p });
  }
}
