// ip-filter: CIDR allow/deny lists, gateway-wide (`ipFilter`, checked before routing, so a
// refused client learns nothing about routes) and per route (`routes[].ipFilter`).
import { GatewayError } from '../../errors.js';
import type { CheckEnv, JsonSchema, Policy, PolicyFactory } from '../../pipeline/policy.js';
import type { RequestCtx } from '../../pipeline/request-ctx.js';
import { checkCidr } from '../../proxy/client-address.js';
import { IpFilter, type IpFilterConfig } from './ip-filter.js';

export const ipFilterSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'CIDR lists (IPv4 and IPv6). Deny wins; with an allow list only listed addresses pass.',
  properties: {
    allow: { type: 'array', maxItems: 10000, items: { type: 'string', minLength: 1 }, description: 'Addresses or CIDRs that may pass (absent: any not denied).' },
    deny: { type: 'array', maxItems: 10000, items: { type: 'string', minLength: 1 }, description: 'Addresses or CIDRs refused with 403.' },
  },
};

function filterPolicy(cfg: IpFilterConfig, message: string): Policy {
  const filter = new IpFilter(cfg);
  const refusal = () => new GatewayError('forbidden', message);
  return Object.freeze({
    id: 'ip-filter',
    onRequest(ctx: RequestCtx) {
      if (filter.permits(ctx.clientIp)) return 'continue';
      ctx.fail(refusal());
      return 'responded';
    },
  });
}

function checkLists(at: string, cfg: IpFilterConfig | undefined, problems: string[]): void {
  for (const kind of ['allow', 'deny'] as const) {
    (cfg?.[kind] ?? []).forEach((c, i) => { const why = checkCidr(c); if (why) problems.push(`${at}.${kind}[${i}]: ${why}`); });
  }
}

export const ipFilterPolicy: PolicyFactory = {
  id: 'ip-filter',
  summary: 'Refuses client addresses by CIDR allow/deny lists (403).',
  configSchema: { ipFilter: { ...ipFilterSchema, description: 'Gateway-wide CIDR lists (IPv4 and IPv6), checked before routing (403). Deny wins; with an allow list only listed addresses pass.' } },
  routeSchema: { ipFilter: ipFilterSchema },
  check(config, { problems }: CheckEnv) {
    checkLists('ipFilter', config.ipFilter, problems);
    config.routes.forEach((r, i) => checkLists(`routes[${i}].ipFilter`, r.ipFilter, problems));
  },
  compileGateway: ({ config }) => (config.ipFilter ? filterPolicy(config.ipFilter, 'client address is not allowed') : null),
  compile: (route) => (route.ipFilter ? filterPolicy(route.ipFilter, 'client address is not allowed on this route') : null),
};
