// headers: edits of the upstream request's headers (`requestHeaders`) and of the upstream
// response's (`responseHeaders`, gateway-wide first, then the route's: a route's add wins).
import type { HeaderOps } from '../../config/types.js';
import type { JsonSchema, Policy, PolicyFactory, UpstreamHead } from '../../pipeline/policy.js';
import type { RequestCtx } from '../../pipeline/request-ctx.js';
import { applyHeaderOps, compileHeaderOps, type CompiledHeaderOps } from './header-ops.js';

const headerOps = (description: string): JsonSchema => ({
  type: 'object',
  additionalProperties: false,
  description: `${description} Applied in order: remove, then add (add replaces an existing value).`,
  properties: {
    add: { type: 'object', maxProperties: 256, additionalProperties: { type: 'string', pattern: '^[\\t\\x20-\\x7e]*$' }, propertyNames: { pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' }, description: 'Headers to set (name → value).' },
    remove: { type: 'array', maxItems: 256, items: { type: 'string', minLength: 1 }, description: 'Header names to remove.' },
  },
});

/** Gateway-wide response edits first, then the route's (a route's add wins). */
function mergeOps(global: HeaderOps | undefined, route: HeaderOps | undefined): HeaderOps | undefined {
  if (!global) return route;
  if (!route) return global;
  return { remove: [...(global.remove ?? []), ...(route.remove ?? [])], add: { ...global.add, ...route.add } };
}

class HeaderRules implements Policy {
  readonly id = 'headers';
  readonly onRequest?: (ctx: RequestCtx) => 'continue';
  readonly onResponse?: (ctx: RequestCtx, res: UpstreamHead) => void;
  constructor(request: CompiledHeaderOps | null, response: CompiledHeaderOps | null) {
    if (request) this.onRequest = (ctx) => { applyHeaderOps(ctx.upstreamHeaders, request); return 'continue'; };
    if (response) this.onResponse = (_ctx, res) => applyHeaderOps(res.headers, response);
    Object.freeze(this);
  }
}

export const headersPolicy: PolicyFactory = {
  id: 'headers',
  summary: 'Adds and removes upstream request and response headers.',
  configSchema: { responseHeaders: headerOps('Header edits on every upstream response, before the route\'s own (e.g. remove: [server, x-powered-by]).') },
  routeSchema: {
    requestHeaders: headerOps('Header edits on the upstream request.'),
    responseHeaders: headerOps('Header edits on the upstream response.'),
  },
  compile(route, _name, { config }) {
    const request = compileHeaderOps(route.requestHeaders);
    const response = compileHeaderOps(mergeOps(config.responseHeaders, route.responseHeaders));
    return request || response ? new HeaderRules(request, response) : null;
  },
};
