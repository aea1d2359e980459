// auth: who is calling. The named authenticators of `auth` (their kinds are folders of their
// own: auth-api-key, auth-jwt, ...) are built once per table; a route lists the ones it
// accepts and the first that finds a valid credential sets ctx.identity. The identity goes
// upstream in the identity headers (client-sent copies are removed for every route by the
// core), and credentials read from the query or a cookie are removed (hideCredentials).
import { GatewayError } from '../../errors.js';
import type { GatewayConfig } from '../../config/types.js';
import type { CheckEnv, CompileEnv, JsonSchema, Policy, PolicyFactory, Verdict } from '../../pipeline/policy.js';
import type { RequestCtx } from '../../pipeline/request-ctx.js';
import { withoutCookies, withoutQueryParams } from '../../proxy/credentials.js';
import { ConsumerRegistry, sha256Hex } from './consumers.js';
import type { Authenticator, AuthenticatorKind, Identity } from './identity.js';
import { RouteAuth, type AuthResult } from './route-auth.js';

/** tableState keys */
export const CONSUMERS = 'auth.consumers';
const AUTHENTICATORS = 'auth.authenticators';

/** The consumer registry of a compiled table (the admin usage endpoint reads it). */
export function consumersOf(state: ReadonlyMap<string, unknown>): ConsumerRegistry {
  return state.get(CONSUMERS) as ConsumerRegistry;
}

const configName = { pattern: '^[A-Za-z0-9_.-]+$' };

const consumersSchema: JsonSchema = {
  type: 'array',
  default: [],
  maxItems: 1000000,
  description: 'Who may call: an id, its API keys, groups, tenant and plan.',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['id'],
    properties: {
      id: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9._@:-]+$', description: 'Sent upstream in the consumer header.' },
      plan: { type: 'string', minLength: 1, description: 'A plan under `plans` (rate limits and quota for this consumer).' },
      groups: { type: 'array', maxItems: 1000, items: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9._:-]+$' }, default: [], description: 'Groups (ACLs match them; sent upstream).' },
      tenant: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9._:-]+$', description: 'Sent upstream in the tenant header.' },
      keys: {
        type: 'array',
        maxItems: 1000,
        description: 'API keys: plain (hashed at load) or their SHA-256 in hex.',
        items: {
          oneOf: [
            { type: 'object', additionalProperties: false, required: ['key'], properties: { key: { type: 'string', minLength: 8, description: 'The key itself.' } } },
            { type: 'object', additionalProperties: false, required: ['sha256'], properties: { sha256: { type: 'string', pattern: '^[0-9a-fA-F]{64}$', description: 'Hex SHA-256 of the key.' } } },
          ],
        },
        default: [],
      },
    },
  },
};

const identityHeadersSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'Headers that carry the authenticated identity upstream; client-sent copies are always removed.',
  properties: {
    consumer: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9-]+$', default: 'x-consumer-id', description: 'The consumer id.' },
    groups: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9-]+$', default: 'x-consumer-groups', description: 'Its groups, comma-separated.' },
    tenant: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9-]+$', default: 'x-tenant-id', description: 'Its tenant.' },
  },
  default: {},
};

/** Removes the named cookies from the Cookie headers of a flat list (the header goes when empty). */
function hideCookies(headers: string[], names: ReadonlySet<string>): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (headers[i] !== 'cookie') continue;
    const rest = withoutCookies(headers[i + 1]!, names);
    if (rest) headers[i + 1] = rest;
    else headers.splice(i, 2);
  }
}

class AuthRoute implements Policy {
  readonly id = 'auth';
  private readonly ids: { consumer: string; groups: string; tenant: string };
  constructor(private readonly auth: RouteAuth, config: GatewayConfig) {
    const h = config.identityHeaders;
    this.ids = Object.freeze({ consumer: h.consumer.toLowerCase(), groups: h.groups.toLowerCase(), tenant: h.tenant.toLowerCase() });
    Object.freeze(this);
  }

  onRequest(ctx: RequestCtx): Verdict | Promise<Verdict> {
    const verdict = this.auth.check(ctx.head, () => ctx.query());
    if (!(verdict instanceof Promise)) return this.admit(ctx, verdict);
    return verdict.then((v) => (ctx.over ? 'responded' : this.admit(ctx, v)));
  }

  private admit(ctx: RequestCtx, v: AuthResult): Verdict {
    if (v.kind !== 'ok') {
      ctx.fail(new GatewayError('unauthorized', v.kind === 'missing' ? 'credentials are missing' : `credentials are not valid: ${v.reason}`), ['www-authenticate', v.challenge]);
      return 'responded';
    }
    this.identify(ctx, v.identity);
    return 'continue';
  }

  private identify(ctx: RequestCtx, identity: Identity): void {
    ctx.identity = identity;
    const headers = ctx.upstreamHeaders;
    const c = identity.consumer;
    headers.push(this.ids.consumer, c.id);
    if (c.groups.length) headers.push(this.ids.groups, c.groups.join(','));
    if (c.tenant) headers.push(this.ids.tenant, c.tenant);
    if (identity.headers.length) headers.push(...identity.headers);
    if (this.auth.hideCookies) hideCookies(headers, this.auth.hideCookies);
    if (this.auth.hideQuery && ctx.upstreamQuery) ctx.upstreamQuery = withoutQueryParams(ctx.upstreamQuery, this.auth.hideQuery);
  }
}

export function authPolicy(kinds: readonly AuthenticatorKind[]): PolicyFactory {
  const byType = new Map(kinds.map((k) => [k.type, k]));
  return {
    id: 'auth',
    summary: 'Identifies the caller with the route\'s authenticators (401 with WWW-Authenticate when none passes).',
    configSchema: {
      auth: {
        type: 'object',
        default: {},
        propertyNames: configName,
        description: 'Named authenticators; routes list the ones they accept. `type` picks the kind: ' + kinds.map((k) => k.type).join(', ') + '.',
        additionalProperties: {
          type: 'object',
          required: ['type'],
          properties: { type: { enum: kinds.map((k) => k.type), description: 'The kind of authenticator.' } },
          discriminator: { propertyName: 'type' },
          oneOf: kinds.map((k) => k.schema),
        },
      },
      consumers: consumersSchema,
      identityHeaders: identityHeadersSchema,
    },
    routeSchema: {
      auth: { type: 'array', minItems: 1, maxItems: 16, items: { type: 'string', minLength: 1 }, description: 'Authenticators (names under `auth`); any one must pass.' },
    },
    check(config, { problems }: CheckEnv) {
      const ids = new Set<string>();
      const keyOwners = new Map<string, string>();
      config.consumers.forEach((c, i) => {
        if (ids.has(c.id)) problems.push(`consumers[${i}].id: duplicate consumer "${c.id}"`);
        ids.add(c.id);
        c.keys.forEach((k, j) => {
          const digest = 'key' in k ? sha256Hex(k.key) : k.sha256.toLowerCase();
          const owner = keyOwners.get(digest);
          if (owner !== undefined) problems.push(`consumers[${i}].keys[${j}]: the same key is already given to "${owner}"`);
          else keyOwners.set(digest, c.id);
        });
      });
      config.routes.forEach((r, i) => (r.auth ?? []).forEach((a, j) => {
        if (!(a in config.auth)) problems.push(`routes[${i}].auth[${j}]: unknown authenticator "${a}"`);
      }));
    },
    resolve(config, env) {
      for (const [name, a] of Object.entries(config.auth)) byType.get(a.type)?.resolve?.(a as unknown as Record<string, unknown>, `auth.${name}`, env);
    },
    prepareTable({ config, tableState }: CompileEnv) {
      const consumers = new ConsumerRegistry(config.consumers);
      const authenticators = new Map<string, Authenticator>();
      for (const [name, a] of Object.entries(config.auth)) authenticators.set(name, byType.get(a.type)!.create(name, a as unknown as Record<string, unknown>, consumers));
      for (const a of authenticators.values()) void a.start?.(); // JWKS prefetch; the first request waits for it if needed
      tableState.set(CONSUMERS, consumers);
      tableState.set(AUTHENTICATORS, authenticators);
    },
    compile(route, _name, env) {
      if (!route.auth?.length) return null;
      return new AuthRoute(new RouteAuth(route.auth, env.tableState.get(AUTHENTICATORS) as Map<string, Authenticator>), env.config);
    },
  };
}
