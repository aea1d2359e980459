// cors: preflights are answered by the gateway for the route of the method they ask about
// (the upstream never sees them, and the route need not list OPTIONS); actual requests on a
// CORS route get the Access-Control-* headers (and Vary: Origin) on every answer.
import { GatewayError } from '../../errors.js';
import type { Policy, PolicyFactory } from '../../pipeline/policy.js';
import type { RequestCtx } from '../../pipeline/request-ctx.js';
import { CorsPolicy, type CorsConfig } from './cors-policy.js';

const stringList = { type: 'array', maxItems: 1000, items: { type: 'string', minLength: 1 } };

class CorsRoute implements Policy {
  readonly id = 'cors';
  constructor(readonly cors: CorsPolicy) { Object.freeze(this); }
  onRequest(ctx: RequestCtx): 'continue' {
    ctx.addHeaders(this.cors.response(ctx.header('origin')));
    return 'continue';
  }
}

/** A gRPC-Web route (transcode.grpcWeb): the headers browser gRPC-Web clients send, and the
 *  status headers they read, are allowed and exposed without listing them (as Envoy's
 *  gRPC-Web guide configures its CORS filter). */
const GRPC_WEB_REQUEST_HEADERS = ['content-type', 'x-grpc-web', 'x-user-agent', 'grpc-timeout'];
const GRPC_WEB_EXPOSED = ['grpc-status', 'grpc-message', 'grpc-status-details-bin'];

function corsConfigOf(route: { cors?: CorsConfig; transcode?: { grpcWeb?: boolean } }): CorsConfig {
  const c = route.cors!;
  if (!route.transcode?.grpcWeb) return c;
  const union = (a: string[] | undefined, b: string[]) => [...new Set([...(a ?? []), ...b].map((h) => h.toLowerCase()))];
  return { ...c, headers: union(c.headers, GRPC_WEB_REQUEST_HEADERS), exposeHeaders: union(c.exposeHeaders, GRPC_WEB_EXPOSED) };
}

function corsOf(route: RequestCtx['route']): CorsPolicy | null {
  return (route?.policies.get('cors') as CorsRoute | undefined)?.cors ?? null;
}

/** Before the 404/405: an OPTIONS with Origin and Access-Control-Request-Method is a preflight. */
const preflight: Policy = Object.freeze({
  id: 'cors',
  onRequest(ctx: RequestCtx) {
    if (ctx.method !== 'OPTIONS') return 'continue';
    const origin = ctx.header('origin');
    const asked = origin === undefined ? undefined : ctx.header('access-control-request-method');
    if (asked === undefined) return 'continue';
    let cors = corsOf(ctx.route);
    if (!cors) {
      const m = ctx.table.router.match(ctx.matchInput(asked.toUpperCase()));
      cors = m.kind === 'route' ? corsOf(m.route) : null;
    }
    if (!cors) return 'continue';
    const allowed = cors.preflight(origin!, asked, ctx.header('access-control-request-headers'));
    if (allowed) ctx.sink.start(204, [...allowed, 'x-request-id', ctx.requestId], -1, true);
    else ctx.fail(new GatewayError('forbidden', 'CORS preflight not allowed for this origin, method or headers'), ['vary', 'Origin']);
    return 'responded';
  },
});

export const corsPolicy: PolicyFactory = {
  id: 'cors',
  summary: 'Answers CORS preflights at the gateway and adds Access-Control-* headers for allowed origins.',
  routeSchema: {
    cors: {
      type: 'object',
      additionalProperties: false,
      required: ['origins'],
      description: 'Cross-origin requests from browsers (preflights are answered here, never forwarded).',
      properties: {
        origins: { type: 'array', minItems: 1, maxItems: 1000, items: { type: 'string', pattern: '^(\\*|https?://(\\*\\.)?[A-Za-z0-9.-]+(:\\d+)?)$' }, description: 'Exact origins, "https://*.example.org" (subdomains), or "*".' },
        methods: { type: 'array', maxItems: 64, items: { type: 'string', pattern: '^[A-Za-z]+$' }, description: 'Methods a preflight may ask for (default GET, HEAD, POST).' },
        headers: { ...stringList, description: 'Request headers a preflight may ask for (Access-Control-Allow-Headers).' },
        exposeHeaders: { ...stringList, description: 'Response headers scripts may read (Access-Control-Expose-Headers).' },
        credentials: { type: 'boolean', default: false, description: 'Send Access-Control-Allow-Credentials: true (the origin is echoed, never "*").' },
        maxAgeSec: { type: 'integer', minimum: 0, maximum: 86400, description: 'How long a browser may cache a preflight (Access-Control-Max-Age).' },
      },
    },
  },
  compileGateway: ({ config }) => (config.routes.some((r) => r.cors) ? preflight : null),
  compile: (route) => (route.cors ? new CorsRoute(new CorsPolicy(corsConfigOf(route))) : null),
};
