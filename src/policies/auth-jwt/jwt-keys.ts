// Where JWT verification keys come from: keys in the config (HMAC secrets, PEM, JWK), or a
// JWKS URL. The JWKS is fetched at start, refreshed in the background when older than
// `refreshMs`, fetched again for an unknown kid at most every `minRefreshIntervalMs`, and
// kept (served stale) while the endpoint is down.
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, type JWTHeaderParameters, type FlattenedJWSInput } from 'jose';
import type { JwtAuthConfig, JwtKeyConfig } from '../../config/types.js';
import { log } from '../../observability/logger.js';

export type KeyResolver = (header: JWTHeaderParameters, token: FlattenedJWSInput) => Promise<KeyObject | CryptoKey> | KeyObject | CryptoKey;

/** Keys with no usable source are reported at config load; this throws the reason. */
export function keyObjectOf(k: JwtKeyConfig): KeyObject {
  if (k.secret !== undefined) return createSecretKey(Buffer.from(k.secret, 'utf8'));
  if (k.publicKey !== undefined) return createPublicKey(k.publicKey);
  if (k.jwk !== undefined) return createPublicKey({ key: k.jwk as never, format: 'jwk' });
  throw new Error('give one of secret, publicKey, publicKeyFile or jwk');
}

const CURVES: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

/** Whether `key` can verify `alg` at all: an HS token never meets an RSA key, and so on. */
export function keyFits(alg: string, key: KeyObject): boolean {
  if (alg.startsWith('HS')) return key.type === 'secret';
  if (key.type !== 'public') return false;
  const t = key.asymmetricKeyType;
  if (alg.startsWith('RS')) return t === 'rsa';
  if (alg.startsWith('PS')) return t === 'rsa' || t === 'rsa-pss';
  if (alg.startsWith('ES')) return t === 'ec' && key.asymmetricKeyDetails?.namedCurve === CURVES[alg];
  if (alg === 'EdDSA') return t === 'ed25519' || t === 'ed448';
  return false;
}

export class KeyUnavailableError extends Error {}

/** A key set is a few KB; anything near this is not one. */
export const MAX_JWKS_BYTES = 1024 * 1024;

async function boundedText(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? -1);
  if (declared > max) throw new Error(`JWKS response over ${max} bytes`);
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) { void reader.cancel(); throw new Error(`JWKS response over ${max} bytes`); }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** Keys from the config: picked by kid (when both sides have one) and by key type. */
export function staticKeyResolver(keys: JwtKeyConfig[]): KeyResolver {
  const compiled = keys.map((k) => ({ kid: k.kid, key: keyObjectOf(k) }));
  return (header) => {
    const found = compiled.find((k) => (header.kid === undefined || k.kid === undefined || k.kid === header.kid) && keyFits(header.alg, k.key));
    if (!found) throw new KeyUnavailableError('no configured key matches the token (kid/alg)');
    return found.key;
  };
}

export class JwksSource {
  private keys: ReturnType<typeof createLocalJWKSet> | null = null;
  private fetchedAt = 0;
  private lastAttempt = -Infinity;
  private fetching: Promise<boolean> | null = null;
  /** counters for the admin API and tests */
  fetches = 0;
  failures = 0;

  constructor(private readonly authName: string, private readonly url: string, private readonly opts: JwtAuthConfig['jwks']) {}

  start(): Promise<void> {
    return this.refresh().then(() => undefined);
  }

  /** Fetch the key set once (concurrent callers share the fetch). Resolves false on failure. */
  private refresh(): Promise<boolean> {
    return (this.fetching ??= (async () => {
      this.lastAttempt = Date.now();
      this.fetches++;
      try {
        // No redirects (the key source is the configured URL, nothing it points elsewhere),
        // a deadline for the whole fetch, and a bounded body.
        const res = await fetch(this.url, { signal: AbortSignal.timeout(this.opts.timeoutMs), headers: { accept: 'application/json' }, redirect: 'error' });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        this.keys = createLocalJWKSet(JSON.parse(await boundedText(res, MAX_JWKS_BYTES)) as Parameters<typeof createLocalJWKSet>[0]);
        this.fetchedAt = Date.now();
        return true;
      } catch (e) {
        this.failures++;
        log.warn({ authenticator: this.authName, url: this.url, err: (e as Error).message }, this.keys ? 'JWKS fetch failed; using the cached keys' : 'JWKS fetch failed; no keys yet');
        return false;
      } finally {
        this.fetching = null;
      }
    })());
  }

  private mayFetch(now: number): boolean {
    return now - this.lastAttempt >= this.opts.minRefreshIntervalMs;
  }

  readonly resolve: KeyResolver = async (header, token) => {
    const now = Date.now();
    if (!this.keys) {
      if (this.fetching || this.mayFetch(now)) await this.refresh();
      if (!this.keys) throw new KeyUnavailableError('signing keys are unavailable');
    } else if (now - this.fetchedAt > this.opts.refreshMs && this.mayFetch(now)) {
      void this.refresh(); // in the background; the current keys serve meanwhile
    }
    try {
      return await this.keys(header, token);
    } catch (e) {
      // A kid we do not know may be a rotation we have not seen yet.
      if ((e as { code?: string }).code === 'ERR_JWKS_NO_MATCHING_KEY' && this.mayFetch(now) && (await this.refresh())) return this.keys(header, token);
      throw e;
    }
  };
}
