// The admin listener (loopback by default): health, current config and routes, reload.
// It is an attack surface too: a web page the operator opens can reach loopback, so every
// request must name the admin address (or localhost) as its Host (no DNS rebinding), must
// not come from another origin (no CSRF), and a reload body must be JSON or YAML (no
// form posts). With a token (required off the loopback), every request must carry it.
import http from 'node:http';
import { timingSafeEqual, createHash } from 'node:crypto';
import { ConfigError } from '../config/load.js';
import type { ErrorCode } from '../errors.js';
import type { GatewayConfig } from '../config/types.js';
import { CREDENTIAL_NAME, REDACTED } from '../proxy/credentials.js';
import { serveMetrics, type MetricsRenderer } from './metrics-server.js';
import { fail, send } from './answer.js';
import { DASHBOARD } from './dashboard/page.js';
import { probeEndpoints, type ProbeHooks } from './probes.js';

export interface AdminHooks extends ProbeHooks {
  /** Reload from `body` when given, else from the config source. Throws ConfigError. */
  reload(body: string | null): Promise<void>;
  /** every request must carry `Authorization: Bearer <token>` */
  token?: string;
  /** GET /metrics (null: observability.metrics.enabled is false) */
  metrics?: MetricsRenderer | null;
  /** the last reloads, oldest first (the dashboard shows them) */
  reloads?: () => ReadonlyArray<{ at: number; result: 'success' | 'failure'; problems?: string[] }>;
}

const MAX_BODY = 4 * 1024 * 1024;

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) { reject(new Error('too large')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}


/** user:password@ in a URL (Redis, JWKS) becomes [redacted]@. */
function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, `$1${REDACTED}@`);
}

function redactHeaderOps(ops: { add?: Record<string, string> } | undefined): void {
  for (const name of Object.keys(ops?.add ?? {})) if (CREDENTIAL_NAME.test(name)) ops!.add![name] = REDACTED;
}

/** The running config without secrets: API keys, HMAC secrets, passphrases, the admin token,
 * TLS material, passwords in URLs and the values of credential-like headers the gateway adds. */
export function redactedConfig(config: GatewayConfig): GatewayConfig {
  const c = structuredClone(config);
  for (const consumer of c.consumers) consumer.keys = consumer.keys.map(() => ({ key: REDACTED }));
  for (const a of Object.values(c.auth)) {
    if (a.type !== 'jwt') continue;
    for (const k of a.keys ?? []) {
      if (k.secret !== undefined) k.secret = REDACTED;
      if (k.jwk !== undefined && ('d' in k.jwk || 'k' in k.jwk)) k.jwk = { redacted: true };
    }
    if (a.jwksUrl) a.jwksUrl = redactUrl(a.jwksUrl);
  }
  for (const cert of c.listen.tls?.certs ?? []) if (cert.passphrase !== undefined) cert.passphrase = REDACTED;
  if (c.admin.token !== undefined) c.admin.token = REDACTED;
  c.rateLimit.redis.url = redactUrl(c.rateLimit.redis.url);
  for (const up of Object.values(c.upstreams)) {
    if (up.tls?.ca !== undefined) up.tls.ca = REDACTED;
    up.targets = up.targets.map((t) => (t.url ? { ...t, url: redactUrl(t.url) } : t));
  }
  redactHeaderOps(c.responseHeaders);
  for (const r of c.routes) { redactHeaderOps(r.requestHeaders); redactHeaderOps(r.responseHeaders); }
  return c;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The checks every admin request passes before an endpoint sees it; the refusal, or null. */
function refusal(req: http.IncomingMessage, hostOk: (host: string) => boolean, token: Buffer | null): { code: ErrorCode; message: string } | null {
  const host = (req.headers.host ?? '').toLowerCase();
  if (!hostOk(host)) return { code: 'misdirected_request', message: 'the Host header must name the admin listener (or localhost)' };
  const origin = req.headers.origin;
  // A browser sends Origin on cross-origin requests (and on every POST): only the admin's own passes.
  if (origin !== undefined && !hostOk(origin.toLowerCase().replace(/^https?:\/\//, ''))) {
    return { code: 'forbidden', message: 'cross-origin admin requests are refused' };
  }
  if (token) {
    const given = presentedToken(req.headers.authorization ?? '');
    if (given === null || !timingSafeEqual(digest(given), token)) return { code: 'unauthorized', message: 'a valid admin token is required (Authorization: Bearer ..., or Basic with the token as password for the dashboard)' };
  }
  return null;
}

/** The token of `Authorization: Bearer TOKEN`, or of Basic with the token as the password (a browser can send only that for a page). */
function presentedToken(header: string): string | null {
  const bearer = /^Bearer[ \t]+(\S+)$/i.exec(header);
  if (bearer) return bearer[1]!;
  const basic = /^Basic[ \t]+([A-Za-z0-9+/=]+)$/i.exec(header);
  if (!basic) return null;
  const text = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? null : text.slice(colon + 1);
}

const CONFIG_TYPES = /^(application\/(json|yaml|x-yaml)|text\/yaml)\s*(;|$)/i;

/** `hostOk`: whether a Host (or Origin's host) names this listener (see runtime.ts adminHostCheck). */
export function createAdminServer(hooks: AdminHooks, hostOk: (host: string) => boolean): http.Server {
  const token = hooks.token ? digest(hooks.token) : null;
  const metricsEndpoint = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (!hooks.metrics) { fail(res, 'not_found', 'metrics are off (observability.metrics.enabled: false)'); return; }
    serveMetrics(req, res, hooks.metrics);
  };
  const endpoints: Record<string, Record<string, (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> | void>> = {
    ...probeEndpoints(hooks),
    '/metrics': { GET: metricsEndpoint },
    // The same under /admin/: a browser sends the dashboard's Basic credentials only below it.
    '/admin/metrics': { GET: metricsEndpoint },
    '/admin/reloads': {
      GET: (_req, res) => send(res, 200, hooks.reloads?.() ?? []),
    },
    '/admin/config': {
      GET: (_req, res) => send(res, 200, redactedConfig(hooks.view.config())),
    },
    '/admin/routes': {
      GET: (_req, res) => send(res, 200, hooks.view.config().routes.map((r, i) => ({
        name: r.name ?? `route-${i}`, match: r.match, upstream: r.upstream,
      }))),
    },
    '/admin/upstreams': {
      GET: async (_req, res) => send(res, 200, await hooks.view.upstreams()),
    },
    '/admin/ratelimit': {
      GET: async (_req, res) => send(res, 200, await hooks.view.ratelimit()),
    },
    '/admin/reload': {
      POST: async (req, res) => {
        const type = req.headers['content-type'];
        const length = Number(req.headers['content-length'] ?? 0);
        // An empty body re-reads the config file; a body must say it is JSON or YAML (a
        // browser form cannot send those types without a CORS preflight, which never passes).
        if ((length > 0 || req.headers['transfer-encoding']) && !CONFIG_TYPES.test(type ?? '')) {
          fail(res, 'unsupported_media_type', 'a reload body must be application/json or application/yaml');
          req.resume();
          return;
        }
        let text: string;
        try {
          text = await readBody(req);
        } catch {
          fail(res, 'payload_too_large', `config body over ${MAX_BODY} bytes`);
          return;
        }
        try {
          await hooks.reload(text.trim() ? text : null);
          send(res, 200, { reloaded: true, routes: hooks.view.config().routes.length });
        } catch (e) {
          const problems = e instanceof ConfigError ? e.problems : [String((e as Error).message)];
          fail(res, 'invalid_config', 'reload failed; the running config is unchanged', { problems });
        }
      },
    },
  };
  /** GET /admin/consumers/:id/usage: the consumer's count this period (the billing hook). */
  const usage = async (id: string, res: http.ServerResponse): Promise<void> => {
    const u = await hooks.view.usage(id);
    if (!u) fail(res, 'not_found', `no consumer "${id}"`);
    else send(res, 200, u);
  };
  return http.createServer((req, res) => {
    const refused = refusal(req, hostOk, token);
    if (refused) {
      fail(res, refused.code, refused.message, {}, refused.code === 'unauthorized' ? { 'www-authenticate': ['Bearer realm="gateway admin"', 'Basic realm="gateway admin", charset="UTF-8"'] } : {});
      req.resume();
      return;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    const asset = DASHBOARD[path];
    if (asset) {
      if (req.method !== 'GET' && req.method !== 'HEAD') { fail(res, 'method_not_allowed', 'use GET', {}, { allow: 'GET' }); return; }
      res.writeHead(200, { 'content-type': asset.type, 'content-length': Buffer.byteLength(asset.body), ...asset.headers });
      res.end(req.method === 'HEAD' ? undefined : asset.body);
      return;
    }
    const m = /^\/admin\/consumers\/([^/]+)\/usage$/.exec(path);
    if (m) {
      if (req.method !== 'GET') { fail(res, 'method_not_allowed', 'use GET', {}, { allow: 'GET' }); return; }
      let id: string;
      try { id = decodeURIComponent(m[1]!); } catch { fail(res, 'bad_request', 'malformed consumer id'); return; }
      usage(id, res).catch(() => { if (!res.headersSent) fail(res, 'internal_error', 'admin request failed'); });
      return;
    }
    const ep = endpoints[path];
    if (!ep) { fail(res, 'not_found', `no admin endpoint ${path}`); return; }
    const handler = ep[req.method ?? 'GET'];
    if (!handler) { fail(res, 'method_not_allowed', `use ${Object.keys(ep).join(', ')}`, {}, { allow: Object.keys(ep).join(', ') }); return; }
    Promise.resolve(handler(req, res)).catch(() => { if (!res.headersSent) fail(res, 'internal_error', 'admin request failed'); });
  });
}
