// The JSON Schema every config must satisfy: the core's keys here, and each policy's
// fragment (src/policies/*/index.ts) joined in by assembleSchema. It is the contract:
// docs/config.md's reference tables are generated from it (npm run docs:config), and
// unknown keys anywhere are errors (additionalProperties: false).
import type { JsonSchema, PolicyFactory } from '../pipeline/policy.js';
/** Mozilla's "intermediate" TLS 1.2 suites (forward secrecy and AEAD only). */
export const MOZILLA_INTERMEDIATE = 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305';

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

const coreSchema = {
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
    trustedProxies: { ...stringList, description: 'CIDRs whose X-Forwarded-For is believed for the client address.' },
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
          preserveHost: { type: 'boolean', default: false },
          allowInPath: { type: 'array', uniqueItems: true, items: { enum: ['encoded-slash', 'backslash', 'semicolon'] }, default: [], description: 'Path constructs this route accepts (all are a 400 by default): %2F or %5C, a raw backslash, ";" path parameters.' },
        },
      },
    },
  },
} as const;

/** The whole schema: the core's, with every policy's top-level and route keys added (a key owned twice is a bug). */
export function assembleSchema(list: readonly PolicyFactory[]): JsonSchema {
  const schema = structuredClone(coreSchema) as unknown as { properties: Record<string, JsonSchema> & { routes: { items: { properties: Record<string, JsonSchema> } } } };
  const top = schema.properties;
  const route = top.routes.items.properties;
  const add = (into: Record<string, JsonSchema>, keys: Readonly<Record<string, JsonSchema>> | undefined, id: string, where: string) => {
    for (const [k, v] of Object.entries(keys ?? {})) {
      if (k in into) throw new Error(`policy "${id}" declares ${where} key "${k}", which is already taken`);
      into[k] = structuredClone(v);
    }
  };
  for (const p of list) {
    add(top, p.configSchema, p.id, 'config');
    add(route, p.routeSchema, p.id, 'route');
  }
  return schema as unknown as JsonSchema;
}
