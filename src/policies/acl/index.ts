// acl: may this caller use the route? After auth: the consumer is listed, is in one of the
// groups, or its token has one of the scopes (any one is enough); otherwise 403.
import { GatewayError } from '../../errors.js';
import type { CheckEnv, Policy, PolicyFactory } from '../../pipeline/policy.js';
import type { RequestCtx } from '../../pipeline/request-ctx.js';
import type { Identity } from '../auth/identity.js';

export interface AclConfig { consumers?: string[]; groups?: string[]; scopes?: string[] }

const stringList = (description: string) => ({ type: 'array', maxItems: 10000, items: { type: 'string', minLength: 1 }, description });

export class Acl implements Policy {
  readonly id = 'acl';
  private readonly consumers: ReadonlySet<string> | null;
  private readonly groups: ReadonlySet<string> | null;
  private readonly scopes: ReadonlySet<string> | null;

  constructor(cfg: AclConfig) {
    this.consumers = cfg.consumers ? new Set(cfg.consumers) : null;
    this.groups = cfg.groups ? new Set(cfg.groups) : null;
    this.scopes = cfg.scopes ? new Set(cfg.scopes) : null;
    Object.freeze(this);
  }

  admits(id: Identity): boolean {
    if (!this.consumers && !this.groups && !this.scopes) return true;
    if (this.consumers?.has(id.consumer.id)) return true;
    if (this.groups && id.consumer.groups.some((g) => this.groups!.has(g))) return true;
    return !!this.scopes && id.scopes.some((s) => this.scopes!.has(s));
  }

  onRequest(ctx: RequestCtx): 'continue' | 'responded' {
    const id = ctx.identity;
    if (id && this.admits(id)) return 'continue';
    ctx.fail(new GatewayError('forbidden', id ? `consumer "${id.consumer.id}" may not use this route` : 'this route needs an authenticated consumer'));
    return 'responded';
  }
}

export const aclPolicy: PolicyFactory = {
  id: 'acl',
  summary: 'Admits authenticated callers by consumer, group or token scope (403 otherwise).',
  routeSchema: {
    allow: {
      type: 'object',
      additionalProperties: false,
      description: 'Authorization: the request passes when its consumer is listed, is in one of the groups, or its token has one of the scopes.',
      properties: {
        consumers: stringList('Consumer ids.'),
        groups: stringList('Consumer groups (config or token groups claim).'),
        scopes: stringList('Token scopes (scope or scp claim).'),
      },
    },
  },
  check(config, { problems }: CheckEnv) {
    const ids = new Set(config.consumers.map((c) => c.id));
    config.routes.forEach((r, i) => {
      if (r.allow && !r.auth) problems.push(`routes[${i}].allow: needs auth on the route`);
      (r.allow?.consumers ?? []).forEach((c, j) => { if (!ids.has(c)) problems.push(`routes[${i}].allow.consumers[${j}]: unknown consumer "${c}"`); });
    });
  },
  compile: (route) => (route.allow ? new Acl(route.allow) : null),
};
