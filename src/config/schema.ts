// The JSON Schema every config must satisfy. It is the contract: docs/config.md documents
// each key here, and unknown keys anywhere are errors (additionalProperties: false).
/** Mozilla's "intermediate" TLS 1.2 suites (forward secrecy and AEAD only). */
export const MOZILLA_INTERMEDIATE = 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305';

const headerOps = {
  type: 'object',
  additionalProperties: false,
  description: 'Header edits applied in order: remove, then add (add replaces an existing value).',
  properties: {
    add: { type: 'object', additionalProperties: { type: 'string' }, description: 'Headers to set.' },
    remove: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'Header names to remove.' },
  },
} as const;

/** Names of upstreams and authenticators (map keys). */
const configName = { pattern: '^[A-Za-z0-9_.-]+$' } as const;

/** A list of non-empty strings. */
const stringList = { type: 'array', items: { type: 'string', minLength: 1 } } as const;

const timeoutsSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'connectMs: TCP connect; firstByteMs: from sending to response headers (per attempt); totalMs: the whole exchange, retries included.',
  properties: {
    connectMs: { type: 'integer', minimum: 1 },
    firstByteMs: { type: 'integer', minimum: 1 },
    totalMs: { type: 'integer', minimum: 1 },
  },
} as const;

const ipFilterSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'CIDR lists (IPv4 and IPv6). Deny wins; with an allow list only listed addresses pass.',
  properties: {
    allow: stringList,
    deny: stringList,
  },
} as const;

const valueMatcher = {
  description: 'Exact string, or { regex } / { present: bool }.',
  oneOf: [
    { type: 'string' },
    {
      type: 'object',
      additionalProperties: false,
      properties: {
        regex: { type: 'string', minLength: 1 },
        present: { type: 'boolean' },
      },
      minProperties: 1,
      maxProperties: 1,
    },
  ],
} as const;

const apiKeyAuthSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { const: 'api-key' },
    header: { type: 'string', minLength: 1, default: 'x-api-key' },
    query: { type: 'string', minLength: 1 },
    hideCredentials: { type: 'boolean', default: true, description: 'Remove the credential from the query string or cookie before forwarding (a header credential is forwarded; remove it with requestHeaders).' },
  },
} as const;

export const JWT_ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

const jwtKeySchema = {
  type: 'object',
  additionalProperties: false,
  description: 'One verification key: an HMAC secret, a PEM public key (inline or a file relative to the config), or a JWK.',
  properties: {
    kid: { type: 'string', minLength: 1 },
    secret: { type: 'string', minLength: 32 },
    publicKey: { type: 'string', minLength: 1 },
    publicKeyFile: { type: 'string', minLength: 1 },
    jwk: { type: 'object' },
  },
  minProperties: 1,
} as const;

const jwtAuthSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'algorithms'],
  properties: {
    type: { const: 'jwt' },
    header: { type: 'string', minLength: 1, default: 'authorization', description: 'Where the token is; "authorization" expects the Bearer scheme.' },
    query: { type: 'string', minLength: 1 },
    cookie: { type: 'string', minLength: 1 },
    hideCredentials: { type: 'boolean', default: true, description: 'Remove the credential from the query string or cookie before forwarding (a header credential is forwarded; remove it with requestHeaders).' },
    algorithms: { type: 'array', minItems: 1, items: { enum: JWT_ALGORITHMS } },
    keys: { type: 'array', items: jwtKeySchema },
    jwksUrl: { type: 'string', pattern: '^https?://' },
    jwks: {
      type: 'object',
      additionalProperties: false,
      properties: {
        refreshMs: { type: 'integer', minimum: 1000, default: 300000, description: 'Age after which the key set is fetched again (in the background).' },
        minRefreshIntervalMs: { type: 'integer', minimum: 0, default: 30000, description: 'An unknown kid triggers a fetch at most this often.' },
        timeoutMs: { type: 'integer', minimum: 100, default: 5000 },
      },
      default: {},
    },
    issuers: stringList,
    audiences: stringList,
    clockSkewSec: { type: 'integer', minimum: 0, default: 30 },
    maxAgeSec: { type: 'integer', minimum: 1, description: 'Reject tokens whose iat is older than this.' },
    requiredClaims: stringList,
    consumerClaim: { type: 'string', minLength: 1, default: 'sub' },
    requireConsumer: { type: 'boolean', default: false, description: 'The consumer claim must name a configured consumer.' },
    groupsClaim: { type: 'string', minLength: 1 },
    claimHeaders: { type: 'object', additionalProperties: { type: 'string', pattern: '^[A-Za-z0-9-]+$' }, description: 'claim name → upstream header name.' },
    cache: {
      type: 'object',
      additionalProperties: false,
      properties: {
        maxTokens: { type: 'integer', minimum: 0, default: 10000 },
        ttlSec: { type: 'integer', minimum: 1, default: 300 },
      },
      default: {},
    },
  },
} as const;

const rateProperties = {
  rate: { type: 'number', exclusiveMinimum: 0 },
  per: { enum: ['second', 'minute', 'hour', 'day'], default: 'second' },
  burst: { type: 'integer', minimum: 1, description: 'Requests allowed at once (default: rate, at least 1).' },
} as const;

const plansSchema = {
  type: 'object',
  default: {},
  propertyNames: configName,
  description: 'Usage tiers: consumers with `plan: NAME` get these limits (keyed by consumer, across all routes) and quota.',
  additionalProperties: {
    type: 'object',
    additionalProperties: false,
    properties: {
      limits: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['rate'], properties: rateProperties }, default: [] },
      quota: {
        type: 'object',
        additionalProperties: false,
        required: ['requests'],
        properties: {
          requests: { type: 'integer', minimum: 0 },
          per: { enum: ['day', 'month'], default: 'month' },
        },
      },
    },
  },
} as const;

export const configSchema = {
  $id: 'https://edge-gateway.local/config.schema.json',
  type: 'object',
  additionalProperties: false,
  required: ['routes'],
  properties: {
    engine: { enum: ['uws', 'node'], default: 'uws', description: 'HTTP front end.' },
    workers: { type: 'integer', minimum: 1, maximum: 256, description: 'Front-end threads sharing the port (uws engine). Default: one per core. The node engine always uses one.' },
    listen: {
      type: 'object',
      additionalProperties: false,
      properties: {
        host: { type: 'string', minLength: 1, default: '0.0.0.0' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
        tls: {
          type: 'object',
          additionalProperties: false,
          description: 'TLS termination (TLS 1.2 and 1.3). One cert/key, or `certs` chosen by SNI; the first is the default for unknown or missing names. Paths are relative to the config file.',
          properties: {
            cert: { type: 'string', minLength: 1 },
            key: { type: 'string', minLength: 1 },
            passphrase: { type: 'string' },
            certs: {
              type: 'array',
              minItems: 1,
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['cert', 'key'],
                properties: {
                  cert: { type: 'string', minLength: 1 },
                  key: { type: 'string', minLength: 1 },
                  passphrase: { type: 'string' },
                  serverNames: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z0-9.-]+$' }, default: [] },
                },
              },
            },
            ciphers: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9:_+!@=-]+$', default: MOZILLA_INTERMEDIATE, description: 'OpenSSL cipher list for TLS 1.2. Default: Mozilla "intermediate" (ECDHE/DHE with AES-GCM or CHACHA20 only: no static RSA, no CBC, no 3DES).' },
            minVersion: { enum: ['TLSv1.2', 'TLSv1.3'], default: 'TLSv1.2', description: 'TLSv1.3 needs engine: node (the uws build cannot turn TLS 1.2 off).' },
          },
        },
        redirectHttp: {
          type: 'object',
          additionalProperties: false,
          required: ['port'],
          description: 'A plain-HTTP listener that answers every request with 308 to the same URL on https.',
          properties: {
            host: { type: 'string', minLength: 1 },
            port: { type: 'integer', minimum: 0, maximum: 65535 },
          },
        },
      },
      default: {},
    },
    responseHeaders: { ...headerOps, description: 'Header edits on every upstream response, before the route\'s own (e.g. remove: [server, x-powered-by]).' },
    admin: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean', default: true },
        host: { type: 'string', minLength: 1, default: '127.0.0.1' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 9901 },
        token: { type: 'string', minLength: 16, description: 'Bearer token every admin request must carry. Required when host is not a loopback address.' },
        tokenFile: { type: 'string', minLength: 1, description: 'A file holding the token (relative to the config file).' },
      },
      default: {},
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      properties: {
        maxHeaderBytes: { type: 'integer', minimum: 1024, maximum: 1048576, default: 16384 },
        maxHeaderCount: { type: 'integer', minimum: 8, maximum: 1000, default: 100 },
        maxBodyBytes: { type: 'integer', minimum: 0, default: 1073741824, description: 'A streamed request body larger than this is cut off with 413.' },
        maxBufferedBodyBytes: { type: 'integer', minimum: 0, maximum: 1073741824, default: 8388608, description: 'Bodies the gateway reads whole (validation, transcoding, retries) are at most this (413).' },
        maxUriBytes: { type: 'integer', minimum: 256, maximum: 65536, default: 8192, description: 'A longer request target is a 414.' },
        maxConnections: { type: 'integer', minimum: 1, maximum: 1000000, default: 10000, description: 'node: open client connections; uws: requests in progress (it reports no connections). Past it: closed at once (node) or 503 (uws).' },
        idleTimeoutMs: { type: 'integer', minimum: 100, default: 65000, description: 'node engine: an idle keep-alive client connection is closed after this (uWS: a fixed 10 s).' },
        requestTimeoutMs: { type: 'integer', minimum: 0, default: 300000, description: 'node engine: the whole request (head and body) must arrive within this; 0 turns it off.' },
        headersTimeoutMs: { type: 'integer', minimum: 100, default: 10000 },
        shutdownTimeoutMs: { type: 'integer', minimum: 0, default: 10000 },
      },
      default: {},
    },
    paths: {
      type: 'object',
      additionalProperties: false,
      description: 'How request paths are normalised before routing (docs/security.md).',
      properties: {
        mergeSlashes: { type: 'boolean', default: true, description: 'Merge repeated slashes ("//admin" is "/admin"), as nginx merge_slashes.' },
      },
      default: {},
    },
    plans: plansSchema,
    transcoding: {
      type: 'object',
      additionalProperties: false,
      description: 'The Piscina pool that runs transcoded calls.',
      properties: {
        workers: { type: 'integer', minimum: 1, maximum: 64, default: 2 },
        concurrentTasksPerWorker: { type: 'integer', minimum: 1, maximum: 1024, default: 16 },
        maxQueue: { type: 'integer', minimum: 0, default: 1024, description: 'Calls waiting for a worker beyond this are answered 503 at once.' },
        inlineBelowBytes: { type: 'integer', minimum: 0, default: 0, description: 'Unary calls with a smaller JSON body run in the front-end thread, without the worker hop (0: never). See docs/transcoding.md for the measurement.' },
        maxMessageBytes: { type: 'integer', minimum: 1024, maximum: 1073741824, default: 4194304, description: 'A gRPC response message larger than this fails the call (RESOURCE_EXHAUSTED, as grpc-js).' },
      },
      default: {},
    },
    consumers: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id'],
        properties: {
          id: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9._@:-]+$' },
          plan: { type: 'string', minLength: 1 },
          groups: { type: 'array', items: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9._:-]+$' }, default: [] },
          tenant: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9._:-]+$' },
          keys: {
            type: 'array',
            items: {
              oneOf: [
                { type: 'object', additionalProperties: false, required: ['key'], properties: { key: { type: 'string', minLength: 8 } } },
                { type: 'object', additionalProperties: false, required: ['sha256'], properties: { sha256: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' } } },
              ],
            },
            default: [],
          },
        },
      },
    },
    auth: {
      type: 'object',
      default: {},
      propertyNames: configName,
      description: 'Named authenticators; routes list the ones they accept.',
      additionalProperties: {
        type: 'object',
        required: ['type'],
        properties: { type: { enum: ['api-key', 'jwt'] } },
        discriminator: { propertyName: 'type' },
        oneOf: [apiKeyAuthSchema, jwtAuthSchema],
      },
    },
    ipFilter: ipFilterSchema,
    trustedProxies: { ...stringList, description: 'CIDRs whose X-Forwarded-For is believed for the client address.' },
    identityHeaders: {
      type: 'object',
      additionalProperties: false,
      description: 'Headers that carry the authenticated identity upstream; client-sent copies are always removed.',
      properties: {
        consumer: { type: 'string', minLength: 1, default: 'x-consumer-id' },
        groups: { type: 'string', minLength: 1, default: 'x-consumer-groups' },
        tenant: { type: 'string', minLength: 1, default: 'x-tenant-id' },
      },
      default: {},
    },
    rateLimit: {
      type: 'object',
      additionalProperties: false,
      description: 'The shared limiter table (process-wide; size changes need a restart).',
      properties: {
        tableSize: { type: 'integer', minimum: 64, maximum: 16777216, default: 65536 },
        onFull: { enum: ['allow', 'deny'], description: 'When no slot is free for a new key: let the request through (fail open) or answer 429. Default: deny for limits keyed by a header or query value (a client picks those), allow otherwise.' },
        ipv6Prefix: { type: 'integer', minimum: 32, maximum: 128, default: 64, description: 'An "ip" key of an IPv6 client is its /N network (one host usually holds a whole /64).' },
        backend: { enum: ['local', 'redis'], default: 'local', description: 'redis: route limits are shared by every gateway instance using the same Redis.' },
        redis: {
          type: 'object',
          additionalProperties: false,
          properties: {
            url: { type: 'string', pattern: '^rediss?://', default: 'redis://127.0.0.1:6379' },
            commandTimeoutMs: { type: 'integer', minimum: 1, default: 50, description: 'A slower answer counts as Redis unavailable (local decision).' },
            keyPrefix: { type: 'string', default: 'gw:rl:' },
          },
          default: {},
        },
      },
      default: {},
    },
    upstreams: {
      type: 'object',
      default: {},
      propertyNames: configName,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['targets'],
        properties: {
          protocol: { enum: ['http', 'grpc'], default: 'http', description: 'grpc: a gRPC service reached through transcoding routes (targets grpc://host:port).' },
          protos: {
            type: 'object',
            additionalProperties: false,
            required: ['files'],
            description: 'The .proto files of a grpc upstream; files are looked up in includeDirs (relative to the config file), then next to the config.',
            properties: {
              files: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
              includeDirs: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
            },
          },
          targets: {
            type: 'array',
            minItems: 1,
            items: {
              type: 'object',
              additionalProperties: false,
              properties: {
                url: { type: 'string', minLength: 1 },
                srv: { type: 'string', minLength: 1, description: 'SRV name (e.g. _http._tcp.users.internal) resolved into targets; needs dns.' },
                weight: { type: 'integer', minimum: 1, maximum: 1000, default: 1 },
              },
            },
          },
          connections: { type: 'integer', minimum: 1, maximum: 10000, default: 256 },
          maxQueue: { type: 'integer', minimum: 0, maximum: 1000000, default: 1024, description: 'Requests waiting for a connection to one target beyond this are answered 503 at once.' },
          balance: { enum: ['round-robin', 'least-request', 'consistent-hash', 'random'], default: 'round-robin' },
          hashOn: {
            description: 'consistent-hash key: a header, a cookie, or the client IP.',
            oneOf: [
              { const: 'ip' },
              { type: 'object', additionalProperties: false, required: ['header'], properties: { header: { type: 'string', minLength: 1 } } },
              { type: 'object', additionalProperties: false, required: ['cookie'], properties: { cookie: { type: 'string', minLength: 1 } } },
            ],
          },
          outlier: {
            type: 'object',
            additionalProperties: false,
            description: 'Passive ejection: consecutive 5xx or connect failures take a target out of rotation.',
            properties: {
              enabled: { type: 'boolean', default: true },
              consecutiveFailures: { type: 'integer', minimum: 1, default: 5 },
              baseEjectionMs: { type: 'integer', minimum: 1, default: 30000 },
              maxEjectionMs: { type: 'integer', minimum: 1, default: 300000 },
              maxEjectionPercent: { type: 'integer', minimum: 0, maximum: 100, default: 50 },
            },
            default: {},
          },
          breaker: {
            type: 'object',
            additionalProperties: false,
            description: 'Circuit breaker for the whole upstream (off unless configured).',
            properties: {
              failureRatio: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.5 },
              windowMs: { type: 'integer', minimum: 100, default: 10000 },
              minRequests: { type: 'integer', minimum: 1, default: 20 },
              openMs: { type: 'integer', minimum: 1, default: 5000 },
              halfOpenRequests: { type: 'integer', minimum: 1, default: 3 },
              halfOpenTimeoutMs: { type: 'integer', minimum: 1, default: 10000, description: 'Probes that have not all answered within this reopen the breaker.' },
            },
          },
          connectTimeoutMs: { type: 'integer', minimum: 1, default: 10000 },
          timeouts: timeoutsSchema,
          healthCheck: {
            type: 'object',
            additionalProperties: false,
            description: 'Active health checks: GET path on every target every intervalMs.',
            required: ['path'],
            properties: {
              path: { type: 'string', pattern: '^/' },
              intervalMs: { type: 'integer', minimum: 50, default: 1000 },
              timeoutMs: { type: 'integer', minimum: 10, default: 500 },
              healthyThreshold: { type: 'integer', minimum: 1, default: 2 },
              unhealthyThreshold: { type: 'integer', minimum: 1, default: 2 },
              expectStatus: { type: 'array', minItems: 1, items: { type: 'integer', minimum: 100, maximum: 599 }, default: [200] },
            },
          },
          dns: {
            type: 'object',
            additionalProperties: false,
            description: 'Re-resolve hostname targets (A/AAAA, or SRV for srv targets) on their TTL, at most every refreshMs.',
            properties: {
              refreshMs: { type: 'integer', minimum: 100, default: 30000 },
              servers: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'DNS servers ("ip" or "ip:port"); default: the system resolver.' },
            },
          },
          keepAliveTimeoutMs: { type: 'integer', minimum: 100, default: 60000 },
          tls: {
            type: 'object',
            additionalProperties: false,
            description: 'For https targets: certificates are verified against the system CAs (or caFile); insecureSkipVerify turns that off and must be explicit.',
            properties: {
              caFile: { type: 'string', minLength: 1 },
              serverName: { type: 'string', minLength: 1 },
              insecureSkipVerify: { type: 'boolean', default: false },
            },
          },
          timeoutMs: { type: 'integer', minimum: 1, description: 'Default total timeout for routes to this upstream.' },
        },
      },
    },
    routes: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        // A proxying route needs match and upstream; a transcoding route has neither.
        if: { properties: { transcode: false } },
        then: { required: ['match', 'upstream'] },
        properties: {
          name: { type: 'string', minLength: 1 },
          transcode: {
            type: 'object',
            additionalProperties: false,
            required: ['upstream'],
            description: 'REST/JSON → gRPC: every google.api.http binding of the services becomes a route (match defaults to every path).',
            properties: {
              upstream: { type: 'string', minLength: 1 },
              services: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_.]*$' } },
              fallback: { type: 'boolean', default: false, description: 'Methods without an annotation answer POST /package.Service/Method (body: the whole request).' },
              emitDefaults: { type: 'boolean', default: false, description: 'Include fields with default values in responses.' },
              forwardHeaders: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z0-9-]+$' }, default: [], description: 'Request headers sent as gRPC metadata, besides authorization, x-request-id, traceparent and the identity headers.' },
            },
          },
          match: {
            type: 'object',
            additionalProperties: false,
            properties: {
              methods: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[A-Za-z]+$' } },
              host: {
                description: 'One host or a list; "*.example.com" matches any subdomain.',
                oneOf: [
                  { type: 'string', minLength: 1 },
                  { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
                ],
              },
              path: { type: 'string', pattern: '^/' },
              prefix: { type: 'string', pattern: '^/' },
              headers: { type: 'object', additionalProperties: valueMatcher },
              query: { type: 'object', additionalProperties: valueMatcher },
            },
          },
          upstream: { type: 'string', minLength: 1 },
          stripPrefix: { oneOf: [{ type: 'boolean' }, { type: 'string', pattern: '^/' }] },
          rewrite: { type: 'string', pattern: '^/' },
          requestHeaders: headerOps,
          responseHeaders: headerOps,
          timeoutMs: { type: 'integer', minimum: 1, description: 'Shorthand for timeouts.totalMs.' },
          timeouts: timeoutsSchema,
          retry: {
            type: 'object',
            additionalProperties: false,
            properties: {
              attempts: { type: 'integer', minimum: 0, maximum: 10, default: 1, description: 'Retries after the first try.' },
              on: {
                type: 'array',
                items: { enum: ['connect-failure', 'reset', 'timeout', 502, 503, 504] },
                default: ['connect-failure', 'reset', 502, 503, 504],
              },
              backoffMs: { type: 'integer', minimum: 0, default: 25 },
              budgetPercent: { type: 'integer', minimum: 0, maximum: 100, default: 20 },
              bufferBodyBytes: { type: 'integer', minimum: 0, maximum: 16777216, default: 0, description: 'Request bodies with a Content-Length up to this are read whole before sending, so that retries can replay them.' },
            },
          },
          validate: {
            type: 'object',
            additionalProperties: false,
            description: 'JSON Schemas for the body (JSON), query and headers; { $ref: file } loads one relative to the config file.',
            properties: {
              body: { type: 'object' },
              query: { type: 'object' },
              headers: { type: 'object' },
            },
          },
          ipFilter: ipFilterSchema,
          cors: {
            type: 'object',
            additionalProperties: false,
            required: ['origins'],
            properties: {
              origins: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^(\\*|https?://(\\*\\.)?[A-Za-z0-9.-]+(:\\d+)?)$' }, description: 'Exact origins, "https://*.example.org" (subdomains), or "*".' },
              methods: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z]+$' } },
              headers: stringList,
              exposeHeaders: stringList,
              credentials: { type: 'boolean', default: false },
              maxAgeSec: { type: 'integer', minimum: 0 },
            },
          },
          auth: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 }, description: 'Authenticators (names under `auth`); any one must pass.' },
          allow: {
            type: 'object',
            additionalProperties: false,
            description: 'Authorization: the request passes when its consumer is listed, is in one of the groups, or its token has one of the scopes.',
            properties: {
              consumers: stringList,
              groups: stringList,
              scopes: stringList,
            },
          },
          rateLimit: {
            type: 'array',
            description: 'Every limit must pass. A key is built from its parts; requests missing a part are not limited by that limit.',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['key', 'rate'],
              properties: {
                key: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^(ip|route|consumer|header:[A-Za-z0-9-]+|param:[A-Za-z_][A-Za-z0-9_]*|query:[A-Za-z0-9_.-]+)$' } },
                ...rateProperties,
              },
            },
          },
          preserveHost: { type: 'boolean', default: false },
          allowInPath: { type: 'array', uniqueItems: true, items: { enum: ['encoded-slash', 'backslash', 'semicolon'] }, default: [], description: 'Path constructs this route accepts (all are a 400 by default): %2F or %5C, a raw backslash, ";" path parameters.' },
        },
      },
    },
  },
} as const;
