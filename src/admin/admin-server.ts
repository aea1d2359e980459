// The admin listener (loopback by default): health, current config and routes, reload.
import http from 'node:http';
import type { AdminView } from '../gateway/front.js';
import { ConfigError } from '../config/load.js';
import type { GatewayConfig } from '../config/types.js';

export interface AdminHooks {
  view: AdminView;
  /** Reload from `body` when given, else from the config source. Throws ConfigError. */
  reload(body: string | null): Promise<void>;
  engine: string;
}

const MAX_BODY = 4 * 1024 * 1024;

function send(res: http.ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

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

/** The running config without secrets: API keys, HMAC secrets and key passphrases. */
export function redactedConfig(config: GatewayConfig): GatewayConfig {
  const c = structuredClone(config);
  const hidden = '[redacted]';
  for (const consumer of c.consumers) consumer.keys = consumer.keys.map(() => ({ key: hidden }));
  for (const a of Object.values(c.auth)) {
    if (a.type === 'jwt') for (const k of a.keys ?? []) if (k.secret !== undefined) k.secret = hidden;
  }
  for (const cert of c.listen.tls?.certs ?? []) if (cert.passphrase !== undefined) cert.passphrase = hidden;
  return c;
}

export function createAdminServer(hooks: AdminHooks): http.Server {
  const endpoints: Record<string, Record<string, (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> | void>> = {
    '/admin/health': {
      GET: async (_req, res) => send(res, 200, { status: 'ok', engine: hooks.engine, ...(await hooks.view.health()) }),
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
        let text: string;
        try {
          text = await readBody(req);
        } catch {
          send(res, 413, { error: { code: 'payload_too_large', message: `config body over ${MAX_BODY} bytes` } });
          return;
        }
        try {
          await hooks.reload(text.trim() ? text : null);
          send(res, 200, { reloaded: true, routes: hooks.view.config().routes.length });
        } catch (e) {
          const problems = e instanceof ConfigError ? e.problems : [String((e as Error).message)];
          send(res, 400, { error: { code: 'invalid_config', message: 'reload failed; the running config is unchanged', problems } });
        }
      },
    },
  };
  /** GET /admin/consumers/:id/usage: the consumer's count this period (the billing hook). */
  const usage = async (id: string, res: http.ServerResponse): Promise<void> => {
    const u = await hooks.view.usage(id);
    if (!u) send(res, 404, { error: { code: 'not_found', message: `no consumer "${id}"` } });
    else send(res, 200, u);
  };
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const m = /^\/admin\/consumers\/([^/]+)\/usage$/.exec(path);
    if (m) {
      if (req.method !== 'GET') { send(res, 405, { error: { code: 'method_not_allowed', message: 'use GET' } }, { allow: 'GET' }); return; }
      let id: string;
      try { id = decodeURIComponent(m[1]!); } catch { send(res, 400, { error: { code: 'bad_request', message: 'malformed consumer id' } }); return; }
      usage(id, res).catch(() => { if (!res.headersSent) send(res, 500, { error: { code: 'internal_error', message: 'admin request failed' } }); });
      return;
    }
    const ep = endpoints[path];
    if (!ep) { send(res, 404, { error: { code: 'not_found', message: `no admin endpoint ${path}` } }); return; }
    const handler = ep[req.method ?? 'GET'];
    if (!handler) { send(res, 405, { error: { code: 'method_not_allowed', message: `use ${Object.keys(ep).join(', ')}` } }, { allow: Object.keys(ep).join(', ') }); return; }
    Promise.resolve(handler(req, res)).catch(() => { if (!res.headersSent) send(res, 500, { error: { code: 'internal_error', message: 'admin request failed' } }); });
  });
}
