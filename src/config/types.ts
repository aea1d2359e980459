// The normalised config, as it is after schema defaults have been applied.
export type ValueMatcher = string | { regex: string } | { present: boolean };

export interface HeaderOps {
  add?: Record<string, string>;
  remove?: string[];
}

export interface TargetConfig { url?: string; srv?: string; weight: number }

export interface HealthCheckConfig {
  /** http upstreams (required there) */
  path: string;
  /** grpc upstreams: the service asked about */
  service?: string;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  expectStatus: number[];
}

export type HashOn = 'ip' | { header: string } | { cookie: string };

export interface OutlierConfig {
  enabled: boolean;
  consecutiveFailures: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
  maxEjectionPercent: number;
}

export interface BreakerConfig {
  failureRatio: number;
  windowMs: number;
  minRequests: number;
  openMs: number;
  halfOpenRequests: number;
  halfOpenTimeoutMs: number;
}

export type RetryOn = 'connect-failure' | 'reset' | 'timeout' | 502 | 503 | 504;

export interface RetryConfig { attempts: number; on: RetryOn[]; backoffMs: number; budgetPercent: number; bufferBodyBytes: number; grpcCodes?: string[] }

export interface UpstreamConfig {
  protocol: 'http' | 'grpc';
  /** grpc: includeDirs are absolute after load (the config's directory last); one of: files (with includeDirs), descriptorSet, reflection; `descriptors` is filled in by reflection before the config is applied */
  protos?: { files: string[]; includeDirs: string[]; descriptorSet?: string; reflection?: boolean; descriptors?: string };
  /** grpc upstreams: HTTP/2 sessions per target (absent: DEFAULT_H2 in grpc-h2-client.ts) */
  http2?: { client: 'gateway' | 'node'; maxConcurrentStreams: number; maxSessions: number; keepaliveMs: number; keepaliveTimeoutMs: number };
  /** grpc upstreams: the grpc-encoding of request messages */
  compression?: 'gzip' | 'deflate';
  targets: TargetConfig[];
  connections: number;
  maxQueue: number;
  balance: 'round-robin' | 'least-request' | 'consistent-hash' | 'random';
  hashOn?: HashOn;
  outlier: OutlierConfig;
  breaker?: BreakerConfig;
  connectTimeoutMs: number;
  timeouts?: { connectMs?: number; firstByteMs?: number; totalMs?: number };
  healthCheck?: HealthCheckConfig;
  dns?: { refreshMs: number; servers?: string[] };
  keepAliveTimeoutMs: number;
  timeoutMs?: number;
  /** `ca` is caFile's contents, read at load */
  tls?: { caFile?: string; ca?: string; serverName?: string; insecureSkipVerify: boolean };
}

export interface ListenCert { cert: string; key: string; passphrase?: string; serverNames: string[] }

/** After load: paths are absolute and `cert`/`key` shorthand is folded into `certs`. */
export interface ListenTls { cert?: string; key?: string; passphrase?: string; certs: ListenCert[]; ciphers: string; minVersion: 'TLSv1.2' | 'TLSv1.3' }

export interface ConsumerConfig {
  id: string;
  plan?: string;
  groups: string[];
  tenant?: string;
  keys: Array<{ key: string } | { sha256: string }>;
}

export interface ApiKeyAuthConfig { type: 'api-key'; header: string; query?: string; hideCredentials: boolean }

export interface JwtKeyConfig { kid?: string; secret?: string; publicKey?: string; publicKeyFile?: string; jwk?: Record<string, unknown> }

export interface JwtAuthConfig {
  type: 'jwt';
  header: string;
  query?: string;
  cookie?: string;
  hideCredentials: boolean;
  algorithms: string[];
  keys?: JwtKeyConfig[];
  jwksUrl?: string;
  jwks: { refreshMs: number; minRefreshIntervalMs: number; timeoutMs: number };
  issuers?: string[];
  audiences?: string[];
  clockSkewSec: number;
  maxAgeSec?: number;
  requiredClaims?: string[];
  consumerClaim: string;
  requireConsumer: boolean;
  groupsClaim?: string;
  claimHeaders?: Record<string, string>;
  cache: { maxTokens: number; ttlSec: number };
}

export type AuthConfig = ApiKeyAuthConfig | JwtAuthConfig;

export interface PlanConfig {
  limits: Array<Omit<RateLimitRule, 'key'>>;
  quota?: { requests: number; per: 'day' | 'month' };
}

export interface RateLimitRule { key: string[]; rate: number; per: 'second' | 'minute' | 'hour' | 'day'; burst?: number }

export interface AggregateBackendConfig {
  name: string;
  upstream?: string;
  path?: string;
  method: string;
  body?: boolean | string;
  grpc?: { upstream: string; method: string; request?: Record<string, unknown> };
  required: boolean;
  after: string[];
  timeoutMs?: number;
  target?: string;
  allow?: string[];
  deny?: string[];
  mapping?: Record<string, string>;
  group?: string;
  isCollection: boolean;
  raw: boolean;
  fallback?: unknown;
  retry?: { attempts: number; on: RetryOn[]; backoffMs: number; budgetPercent: number };
}

export interface AggregateConfig {
  timeoutMs: number;
  merge: 'shallow' | 'deep' | 'concat';
  errors: 'omit' | 'include';
  maxBackendBytes: number;
  backends: AggregateBackendConfig[];
}

/** A WebSocket route's settings (src/websocket/websocket-schema.ts; defaults in websocket-settings.ts). */
export interface WebSocketRouteConfig {
  maxMessageBytes?: number;
  idleTimeoutMs?: number;
  pingIntervalMs?: number;
  maxConnections?: number;
  messagesPerSecond?: number;
  compression?: boolean;
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
  /** absent on transcoding routes (set from transcode.upstream at load) and aggregate routes */
  upstream: string;
  transcode?: { upstream: string; services?: string[]; fallback: boolean; emitDefaults: boolean; useProtoNames: boolean; enumsAsInts: boolean; ignoreUnknownQuery: boolean; forwardHeaders: string[]; grpcWeb: boolean; websocket?: boolean | WebSocketRouteConfig };
  aggregate?: AggregateConfig;
  websocket?: boolean | WebSocketRouteConfig;
  stripPrefix?: boolean | string;
  rewrite?: string;
  requestHeaders?: HeaderOps;
  responseHeaders?: HeaderOps;
  timeoutMs?: number;
  timeouts?: { connectMs?: number; firstByteMs?: number; totalMs?: number };
  retry?: RetryConfig;
  rateLimit?: RateLimitRule[];
  auth?: string[];
  ipFilter?: { allow?: string[]; deny?: string[] };
  cors?: import('../policies/cors/cors-policy.js').CorsConfig;
  validate?: import('../policies/validate/request-validation.js').ValidateConfig;
  allow?: { consumers?: string[]; groups?: string[]; scopes?: string[] };
  preserveHost: boolean;
  accessLog: boolean;
  allowInPath: Array<'encoded-slash' | 'backslash' | 'semicolon'>;
}

export interface GatewayConfig {
  engine: 'uws' | 'node';
  /** front-end threads; absent: one per core (uws) — set at start */
  threads?: number;
  listen: { host: string; port: number; tls?: ListenTls; redirectHttp?: { host?: string; port: number } };
  responseHeaders?: HeaderOps;
  /** token: after load, also the contents of tokenFile */
  admin: { enabled: boolean; host: string; port: number; token?: string; tokenFile?: string };
  limits: {
    maxHeaderBytes: number;
    maxHeaderCount: number;
    maxBodyBytes: number;
    maxBufferedBodyBytes: number;
    maxUriBytes: number;
    maxConnections: number;
    idleTimeoutMs: number;
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    shutdownTimeoutMs: number;
  };
  /** V8 heap growth (fixed at start) */
  heap: { growthPercent: number };
  rateLimit: {
    tableSize: number;
    /** absent: deny for client-chosen keys (header, query), allow otherwise */
    onFull?: 'allow' | 'deny';
    ipv6Prefix: number;
    backend: 'local' | 'redis';
    redis: { url: string; commandTimeoutMs: number; keyPrefix: string };
  };
  plans: Record<string, PlanConfig>;
  transcoding: { workers: number; concurrentTasksPerWorker: number; maxQueue: number; inlineBelowBytes: number; inlineWebSocketBelowBytes: number; inlineComposeBelowBytes: number; compressAboveBytes: number; maxMessageBytes: number };
  paths: { mergeSlashes: boolean };
  observability: ObservabilityConfig;
  consumers: ConsumerConfig[];
  auth: Record<string, AuthConfig>;
  identityHeaders: { consumer: string; groups: string; tenant: string };
  ipFilter?: { allow?: string[]; deny?: string[] };
  trustedProxies?: string[];
  upstreams: Record<string, UpstreamConfig>;
  routes: RouteConfig[];
}

export interface ObservabilityConfig {
  metrics: { enabled: boolean; buckets: number[]; histogramBuckets: Record<string, number[]>; maxSeries: number; consumerLabel: boolean; listen?: { host: string; port: number } };
  accessLog: { enabled: boolean; path?: string; format: 'json' | 'text'; template: string; sample: number; requestHeaders: string[] };
  tracing?: { otlp: { endpoint: string; headers: Record<string, string>; timeoutMs: number }; sampleRatio: number; serviceName: string; responseHeader?: string };
  /** GET /admin/health and /admin/ready on a listener of their own (no admin token) */
  status?: { listen: { host: string; port: number } };
}
