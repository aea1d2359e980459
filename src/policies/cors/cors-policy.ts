// CORS per route, compiled once: preflights are answered by the gateway (the upstream never
// sees them); actual requests from allowed origins get the Access-Control-* response headers.
// Every answer on a CORS route carries `Vary: Origin`.
export interface CorsConfig {
  origins: string[];
  methods?: string[];
  headers?: string[];
  exposeHeaders?: string[];
  credentials?: boolean;
  maxAgeSec?: number;
}

export class CorsPolicy {
  private readonly exact: ReadonlySet<string>;
  /** [scheme + "://", ".suffix"] pairs from "https://*.example.org" */
  private readonly wildcards: ReadonlyArray<[string, string]>;
  private readonly any: boolean;
  private readonly methods: ReadonlySet<string>;
  private readonly allowHeaders: ReadonlySet<string>;
  private readonly methodsValue: string;
  private readonly headersValue: string;

  constructor(private readonly cfg: CorsConfig) {
    this.any = cfg.origins.includes('*');
    this.exact = new Set(cfg.origins.filter((o) => !o.includes('*')).map((o) => o.toLowerCase()));
    this.wildcards = cfg.origins.filter((o) => o.includes('://*.')).map((o) => {
      const [scheme, rest] = o.toLowerCase().split('://*') as [string, string];
      return [`${scheme}://`, rest];
    });
    this.methods = new Set((cfg.methods ?? ['GET', 'HEAD', 'POST']).map((m) => m.toUpperCase()));
    this.allowHeaders = new Set((cfg.headers ?? []).map((h) => h.toLowerCase()));
    this.methodsValue = [...this.methods].join(', ');
    this.headersValue = [...this.allowHeaders].join(', ');
  }

  allowsOrigin(origin: string): boolean {
    if (this.any) return true;
    const o = origin.toLowerCase();
    if (this.exact.has(o)) return true;
    for (const [scheme, suffix] of this.wildcards) {
      if (o.startsWith(scheme) && o.endsWith(suffix) && o.length > scheme.length + suffix.length && !o.slice(scheme.length).includes('/')) return true;
    }
    return false;
  }

  private originHeaders(origin: string): string[] {
    const h = ['access-control-allow-origin', this.any && !this.cfg.credentials ? '*' : origin];
    if (this.cfg.credentials) h.push('access-control-allow-credentials', 'true');
    return h;
  }

  /** Preflight answer: headers for a 204, or null when the request is not allowed. */
  preflight(origin: string, method: string, requestHeaders: string | undefined): string[] | null {
    if (!this.allowsOrigin(origin) || !this.methods.has(method.toUpperCase())) return null;
    if (requestHeaders) {
      for (const h of requestHeaders.split(',')) {
        const name = h.trim().toLowerCase();
        if (name && !this.allowHeaders.has(name)) return null;
      }
    }
    const h = this.originHeaders(origin);
    h.push('access-control-allow-methods', this.methodsValue);
    if (this.headersValue) h.push('access-control-allow-headers', this.headersValue);
    if (this.cfg.maxAgeSec !== undefined) h.push('access-control-max-age', String(this.cfg.maxAgeSec));
    h.push('vary', 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
    return h;
  }

  /** Headers for the response to an actual request (just Vary when the origin is not allowed). */
  response(origin: string | undefined): string[] {
    if (!origin || !this.allowsOrigin(origin)) return ['vary', 'Origin'];
    const h = this.originHeaders(origin);
    if (this.cfg.exposeHeaders?.length) h.push('access-control-expose-headers', this.cfg.exposeHeaders.join(', '));
    h.push('vary', 'Origin');
    return h;
  }
}
