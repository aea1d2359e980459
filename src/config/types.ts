// The normalised config, as it is after schema defaults have been applied.
export type ValueMatcher = string | { regex: string } | { present: boolean };

export interface HeaderOps {
  add?: Record<string, string>;
  remove?: string[];
}

export interface TargetConfig { url: string; weight: number }

export interface UpstreamConfig {
  targets: TargetConfig[];
  connections: number;
  keepAliveTimeoutMs: number;
  timeoutMs?: number;
}

export interface RouteConfig {
  name?: string;
  match: {
    methods?: string[];
    host?: string | string[];
    path?: string;
    prefix?: string;
    headers?: Record<string, ValueMatcher>;
    query?: Record<string, ValueMatcher>;
  };
  upstream: string;
  stripPrefix?: boolean | string;
  rewrite?: string;
  requestHeaders?: HeaderOps;
  responseHeaders?: HeaderOps;
  timeoutMs?: number;
  preserveHost: boolean;
}

export interface GatewayConfig {
  engine: 'uws' | 'node';
  listen: { host: string; port: number };
  admin: { enabled: boolean; host: string; port: number };
  limits: {
    maxHeaderBytes: number;
    maxHeaderCount: number;
    maxBodyBytes: number;
    headersTimeoutMs: number;
    shutdownTimeoutMs: number;
  };
  upstreams: Record<string, UpstreamConfig>;
  routes: RouteConfig[];
}
