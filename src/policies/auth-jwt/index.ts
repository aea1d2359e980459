// auth-jwt: JWT bearer tokens (jose), verified against configured keys and/or a JWKS URL.
import type { KeyObject } from 'node:crypto';
import type { JwtAuthConfig } from '../../config/types.js';
import type { CheckEnv } from '../../pipeline/policy.js';
import type { AuthenticatorKind } from '../auth/identity.js';
import { JwtAuthenticator } from './jwt-auth.js';
import { keyFits, keyObjectOf } from './jwt-keys.js';

export const JWT_ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

const stringList = (description: string) => ({ type: 'array', maxItems: 1000, items: { type: 'string', minLength: 1 }, description });

const jwtKeySchema = {
  type: 'object',
  additionalProperties: false,
  description: 'One verification key: an HMAC secret, a PEM public key (inline or a file relative to the config), or a JWK.',
  properties: {
    kid: { type: 'string', minLength: 1, description: 'Matched against the token header\'s kid (absent: tried for any token).' },
    secret: { type: 'string', minLength: 32, description: 'HMAC secret (HS* algorithms), at least 32 characters.' },
    publicKey: { type: 'string', minLength: 1, description: 'PEM public key.' },
    publicKeyFile: { type: 'string', minLength: 1, description: 'A PEM file, relative to the config file.' },
    jwk: { type: 'object', description: 'A public JWK.' },
  },
  minProperties: 1,
};

/** Keys load, parse, and there is one for every algorithm allowed; publicKeyFile is read into publicKey. */
function resolveJwt(raw: Record<string, unknown>, at: string, { problems, files }: CheckEnv): void {
  const a = raw as unknown as JwtAuthConfig;
  if (!a.jwksUrl && !a.keys?.length) problems.push(`${at}: give keys or jwksUrl`);
  const parsed: KeyObject[] = [];
  (a.keys ?? []).forEach((k, i) => {
    const sources = (['secret', 'publicKey', 'publicKeyFile', 'jwk'] as const).filter((f) => k[f] !== undefined);
    if (sources.length !== 1) { problems.push(`${at}.keys[${i}]: give exactly one of secret, publicKey, publicKeyFile, jwk`); return; }
    if (k.publicKeyFile !== undefined) {
      const file = files.read(k.publicKeyFile, `${at}.keys[${i}].publicKeyFile`, problems);
      if (!file) return;
      k.publicKey = file.text;
      delete k.publicKeyFile;
    }
    try { parsed.push(keyObjectOf(k)); } catch (e) {
      problems.push(`${at}.keys[${i}]: not a usable key: ${(e as Error).message.split('\n')[0]}`);
    }
  });
  a.algorithms.forEach((alg, i) => {
    if (parsed.some((k) => keyFits(alg, k))) return;
    if (alg.startsWith('HS')) problems.push(`${at}.algorithms[${i}]: ${alg} needs a secret in ${at}.keys`);
    else if (!a.jwksUrl && a.keys?.length && a.keys.length === parsed.length) problems.push(`${at}.algorithms[${i}]: no key in ${at}.keys can verify ${alg}`);
  });
}

export const jwtAuth: AuthenticatorKind = {
  type: 'jwt',
  summary: 'JWT bearer tokens: signature, exp/nbf/iat with skew, issuer/audience lists, claims to headers; JWKS with refresh.',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'algorithms'],
    properties: {
      type: { const: 'jwt', description: 'A JWT authenticator.' },
      header: { type: 'string', minLength: 1, maxLength: 256, default: 'authorization', description: 'Where the token is; "authorization" expects the Bearer scheme.' },
      query: { type: 'string', minLength: 1, maxLength: 256, description: 'Query parameter that may carry the token.' },
      cookie: { type: 'string', minLength: 1, maxLength: 256, description: 'Cookie that may carry the token.' },
      hideCredentials: { type: 'boolean', default: true, description: 'Remove the credential from the query string or cookie before forwarding (a header credential is forwarded; remove it with requestHeaders).' },
      algorithms: { type: 'array', minItems: 1, items: { enum: JWT_ALGORITHMS }, description: 'Accepted signature algorithms (never "none").' },
      keys: { type: 'array', maxItems: 1000, items: jwtKeySchema, description: 'Verification keys.' },
      jwksUrl: { type: 'string', pattern: '^https?://', description: 'A JWKS endpoint (fetched with a 1 MB bound, no redirects).' },
      jwks: {
        type: 'object',
        additionalProperties: false,
        description: 'How the JWKS is fetched.',
        properties: {
          refreshMs: { type: 'integer', minimum: 1000, default: 300000, description: 'Age after which the key set is fetched again (in the background).' },
          minRefreshIntervalMs: { type: 'integer', minimum: 0, default: 30000, description: 'An unknown kid triggers a fetch at most this often.' },
          timeoutMs: { type: 'integer', minimum: 100, maximum: 60000, default: 5000, description: 'A fetch slower than this fails.' },
        },
        default: {},
      },
      issuers: stringList('Accepted iss values (absent: any).'),
      audiences: stringList('Accepted aud values (absent: any).'),
      clockSkewSec: { type: 'integer', minimum: 0, maximum: 3600, default: 30, description: 'Tolerance for exp, nbf and iat.' },
      maxAgeSec: { type: 'integer', minimum: 1, description: 'Reject tokens whose iat is older than this.' },
      requiredClaims: stringList('Claims every token must have.'),
      consumerClaim: { type: 'string', minLength: 1, default: 'sub', description: 'The claim that names the consumer.' },
      requireConsumer: { type: 'boolean', default: false, description: 'The consumer claim must name a configured consumer.' },
      groupsClaim: { type: 'string', minLength: 1, description: 'A claim with groups (array, or space/comma separated) added to the consumer\'s.' },
      claimHeaders: { type: 'object', maxProperties: 100, additionalProperties: { type: 'string', pattern: '^[A-Za-z0-9-]+$' }, description: 'claim name → upstream header name.' },
      cache: {
        type: 'object',
        additionalProperties: false,
        description: 'Verified tokens, kept by their full text (never past exp).',
        properties: {
          maxTokens: { type: 'integer', minimum: 0, maximum: 10000000, default: 10000, description: 'At most this many (0: no cache).' },
          ttlSec: { type: 'integer', minimum: 1, default: 300, description: 'Longest time a token stays cached.' },
        },
        default: {},
      },
    },
  },
  resolve: resolveJwt,
  create: (name, cfg, consumers) => new JwtAuthenticator(name, cfg as unknown as JwtAuthConfig, consumers),
};
