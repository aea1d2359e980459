// The JSON Schema every config must satisfy: the core's keys here, and each policy's
// fragment (src/policies/*/index.ts) joined in by assembleSchema. It is the contract:
// docs/config.md's reference tables are generated from it (npm run docs:config), and
// unknown keys anywhere are errors (additionalProperties: false).
import type { JsonSchema, PolicyFactory } from '../pipeline/policy.js';
import { aggregateSchema } from '../aggregate/aggregate-schema.js';
import { websocketSchema } from '../websocket/websocket-schema.js';
/** Mozilla's "intermediate" TLS 1.2 suites (forward secrecy and AEAD only). */
export const MOZILLA_INTERMEDIATE = 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305';

/** Names of upstreams and authenticators (map keys). */
const configName = { pattern: '^[A-Za-z0-9_.-]+$' } as const;

const timeoutsSchema = (scope: string) => ({
  type: 'object',
  additionalProperties: false,
  description: `Timeouts ${scope}.`,
  properties: {
    connectMs: { type: 'integer', minimum: 1, description: 'Per attempt: time to get a connection (queueing included). Expiry counts as a connect failure.' },
    firstByteMs: { type: 'integer', minimum: 1, description: 'Per attempt: from sending the request to the response headers. Expiry → 504 (or a retry if retry.on has timeout); the connection is destroyed.' },
    totalMs: { type: 'integer', minimum: 1, description: 'The whole exchange, retries included (default: the upstream\'s, else 30000). Expired before the response started → 504 upstream_timeout; after → the client connection is cut.' },
  },
});

const valueMatcher = {
  description: 'Exact string, or { regex } (JavaScript syntax, checked at load) / { present: bool }.',
  oneOf: [
    { type: 'string' },
    {
      type: 'object',
      additionalProperties: false,
      properties: {
        regex: { type: 'string', minLength: 1, description: 'Matches when the regular expression matches.' },
        present: { type: 'boolean', description: 'Matches when the value is there (true) or not (false).' },
      },
      minProperties: 1,
      maxProperties: 1,
    },
  ],
} as const;

const port = (description: string) => ({ type: 'integer', minimum: 0, maximum: 65535, description });

const coreSchema = {
  $id: 'https://edge-gateway.local/config.schema.json',
  type: 'object',
  additionalProperties: false,
  required: ['routes'],
  properties: {
    engine: { enum: ['uws', 'node'], default: 'uws', description: 'HTTP front end: uws is uWebSockets.js (the native binary is required: the gateway refuses to start on the package\'s JS fallback), node is the portable node:http engine. --engine overrides it.' },
    threads: { type: 'integer', minimum: 1, maximum: 256, description: 'Front-end threads sharing the port (uws engine; the node engine always uses one). Default: one per core. --threads overrides it. (Called workers before 0.2; transcoding.workers are the Piscina pool\'s.) See rate-limiting.md.' },
    listen: {
      type: 'object',
      additionalProperties: false,
      description: 'The client listener.',
      properties: {
        host: { type: 'string', minLength: 1, default: '0.0.0.0', description: 'Address to listen on.' },
        port: { ...port('Port (0: any free port; the bound port is logged). --port overrides it.'), default: 8080 },
        tls: {
          type: 'object',
          additionalProperties: false,
          description: 'TLS termination (TLS 1.2 and 1.3). One cert/key, or `certs` chosen by SNI; the first is the default for unknown or missing names. Paths are relative to the config file. See security.md.',
          properties: {
            cert: { type: 'string', minLength: 1, description: 'PEM certificate (chain) file.' },
            key: { type: 'string', minLength: 1, description: 'PEM private key file.' },
            passphrase: { type: 'string', description: 'Passphrase of the key.' },
            certs: {
              type: 'array',
              minItems: 1,
              maxItems: 10000,
              description: 'Several certificates, chosen by SNI.',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['cert', 'key'],
                properties: {
                  cert: { type: 'string', minLength: 1, description: 'PEM certificate (chain) file.' },
                  key: { type: 'string', minLength: 1, description: 'PEM private key file.' },
                  passphrase: { type: 'string', description: 'Passphrase of the key.' },
                  serverNames: { type: 'array', maxItems: 1000, items: { type: 'string', pattern: '^[A-Za-z0-9.-]+$' }, default: [], description: 'SNI names this certificate answers (default: the names in the certificate).' },
                },
              },
            },
            ciphers: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9:_+!@=-]+$', default: MOZILLA_INTERMEDIATE, description: 'OpenSSL cipher list for TLS 1.2. Default: Mozilla "intermediate" (ECDHE/DHE with AES-GCM or CHACHA20 only: no static RSA, no CBC, no 3DES). TLS 1.3 always uses its AEAD suites.' },
            minVersion: { enum: ['TLSv1.2', 'TLSv1.3'], default: 'TLSv1.2', description: 'TLSv1.3 needs engine: node (the uws build cannot turn TLS 1.2 off: a config error).' },
          },
        },
        redirectHttp: {
          type: 'object',
          additionalProperties: false,
          required: ['port'],
          description: 'A plain-HTTP listener that answers every request with 308 to the same URL on https (needs listen.tls).',
          properties: {
            host: { type: 'string', minLength: 1, description: 'Address (default: listen.host).' },
            port: port('Port of the redirect listener.'),
          },
        },
      },
      default: {},
    },
    admin: {
      type: 'object',
      additionalProperties: false,
      description: 'The admin API listener (see the Admin API section and security.md).',
      properties: {
        enabled: { type: 'boolean', default: true, description: 'Start the admin listener.' },
        host: { type: 'string', minLength: 1, default: '127.0.0.1', description: 'Admin address. A non-loopback address needs admin.token (a config error otherwise).' },
        port: { ...port('Admin port.'), default: 9901 },
        token: { type: 'string', minLength: 16, maxLength: 4096, description: 'Bearer token every admin request must carry. Required when host is not a loopback address.' },
        tokenFile: { type: 'string', minLength: 1, description: 'A file holding the token (relative to the config file).' },
      },
      default: {},
    },
    observability: {
      type: 'object',
      additionalProperties: false,
      description: 'Metrics, access log and tracing (see observability.md).',
      properties: {
        metrics: {
          type: 'object',
          additionalProperties: false,
          description: 'Prometheus metrics, counted by every thread in shared memory and served at GET /metrics on the admin listener. Fixed at start (a reload keeps the running values).',
          properties: {
            enabled: { type: 'boolean', default: true, description: 'Count and serve metrics.' },
            buckets: { type: 'array', minItems: 1, maxItems: 30, items: { type: 'number', exclusiveMinimum: 0 }, default: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], description: 'Histogram bucket upper bounds in seconds (ascending) for every histogram without its own.' },
            histogramBuckets: { type: 'object', maxProperties: 16, additionalProperties: { type: 'array', minItems: 1, maxItems: 30, items: { type: 'number', exclusiveMinimum: 0 } }, default: {}, description: '{ metric name: buckets } for single histograms (e.g. gateway_upstream_duration_seconds).' },
            maxSeries: { type: 'integer', minimum: 10, maximum: 100000, default: 2000, description: 'Label sets one metric may hold; requests past it count in that metric\'s {overflow="true"} series.' },
            consumerLabel: { type: 'boolean', default: false, description: 'Add a consumer label to gateway_http_requests_total (one series per consumer and route: mind maxSeries).' },
            listen: {
              type: 'object',
              additionalProperties: false,
              required: ['port'],
              description: 'Also serve GET /metrics on a listener of its own (no admin token: for scrapers that cannot send one).',
              properties: {
                host: { type: 'string', minLength: 1, default: '127.0.0.1', description: 'Address.' },
                port: port('Port.'),
              },
            },
          },
          default: {},
        },
        accessLog: {
          type: 'object',
          additionalProperties: false,
          description: 'One line per request, written when its response has ended.',
          properties: {
            enabled: { type: 'boolean', default: false, description: 'Write the access log.' },
            path: { type: 'string', minLength: 1, description: 'A file (appended to; reopened on SIGUSR1 for logrotate). Absent: stdout.' },
            format: { enum: ['json', 'text'], default: 'json', description: 'json: one JSON object per line (the fields of observability.md); text: the template.' },
            template: { type: 'string', minLength: 1, maxLength: 4096, default: '{start_time} {client_ip} "{method} {path}" {status} {bytes_sent} {duration_ms}ms {response_flags} {route} {upstream_target} {request_id}', description: 'format: text: {field} is replaced by the field (observability.md lists them), "-" when empty.' },
            sample: { type: 'number', minimum: 0, maximum: 1, default: 1, description: 'The share of requests logged (random); errors (status ≥ 500) are always logged.' },
            requestHeaders: { type: 'array', maxItems: 32, items: { type: 'string', pattern: '^[A-Za-z0-9-]+$' }, default: [], description: 'Request headers logged (field request_headers); credential-like names are logged as [redacted].' },
          },
          default: {},
        },
        status: {
          type: 'object',
          additionalProperties: false,
          required: ['listen'],
          description: 'The liveness and readiness probes (GET /admin/health, /admin/ready) also on a listener of their own, without the admin token: for Kubernetes probes and load balancers (as Kong\'s status_listen). It answers nothing else, and no browser page.',
          properties: {
            listen: {
              type: 'object',
              additionalProperties: false,
              required: ['port'],
              description: 'Its address.',
              properties: {
                host: { type: 'string', minLength: 1, default: '127.0.0.1', description: 'Address (0.0.0.0 in a Kubernetes pod: the kubelet probes the pod IP).' },
                port: port('Port.'),
              },
            },
          },
        },
        tracing: {
          type: 'object',
          additionalProperties: false,
          description: 'W3C trace context and OpenTelemetry spans exported over OTLP/HTTP. Without it, traceparent headers pass through untouched.',
          properties: {
            otlp: {
              type: 'object',
              additionalProperties: false,
              required: ['endpoint'],
              description: 'The OTLP/HTTP receiver.',
              properties: {
                endpoint: { type: 'string', pattern: '^https?://', description: 'Traces URL, e.g. http://127.0.0.1:4318/v1/traces.' },
                headers: { type: 'object', maxProperties: 32, additionalProperties: { type: 'string' }, default: {}, description: 'Headers sent with every export (e.g. an API key).' },
                timeoutMs: { type: 'integer', minimum: 100, maximum: 60000, default: 10000, description: 'One export\'s timeout.' },
              },
            },
            sampleRatio: { type: 'number', minimum: 0, maximum: 1, default: 0.01, description: 'Share of new traces recorded; a request with a traceparent follows its sampled flag (parent-based).' },
            serviceName: { type: 'string', minLength: 1, maxLength: 256, default: 'edge-gateway', description: 'The service.name resource attribute.' },
            responseHeader: { type: 'string', pattern: '^[A-Za-z0-9-]+$', description: 'Echo the trace id in this response header (e.g. x-trace-id).' },
          },
        },
      },
      default: {},
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      description: 'Bounds on what a client may send and how long it may take.',
      properties: {
        maxHeaderBytes: { type: 'integer', minimum: 1024, maximum: 1048576, default: 16384, description: 'Request line + headers larger than this → 431.' },
        maxHeaderCount: { type: 'integer', minimum: 8, maximum: 1000, default: 100, description: 'More request headers than this → 431. (uWS 20.30 itself drops requests with more than 48 header fields without an answer; see architecture.md.)' },
        maxBodyBytes: { type: 'integer', minimum: 0, default: 1073741824, description: 'A Content-Length over this → 413 before anything is forwarded; a chunked body that grows over it → 413 and the upstream request is aborted.' },
        maxBufferedBodyBytes: { type: 'integer', minimum: 0, maximum: 1073741824, default: 8388608, description: 'Bodies the gateway reads whole (validation, transcoding, replayable retries) are at most this → 413. A larger retry.bufferBodyBytes is capped by it.' },
        maxUriBytes: { type: 'integer', minimum: 256, maximum: 65536, default: 8192, description: 'A longer request target → 414 (both engines), nothing forwarded.' },
        maxConnections: { type: 'integer', minimum: 1, maximum: 1000000, default: 10000, description: 'node: open client connections (past it a new connection is closed at once); uws: requests in progress (it reports no connections), past it 503 and the connection is closed.' },
        idleTimeoutMs: { type: 'integer', minimum: 100, default: 65000, description: 'node engine: an idle keep-alive client connection is closed after this (uWS: a fixed 10 s).' },
        requestTimeoutMs: { type: 'integer', minimum: 0, default: 300000, description: 'node engine: the whole request (head and body) must arrive within this, else 408; 0 turns it off.' },
        headersTimeoutMs: { type: 'integer', minimum: 100, default: 10000, description: 'node engine: a client must finish sending its headers within this (slowloris guard), then 408 and close. uws: a fixed 10 s idle timeout instead.' },
        shutdownTimeoutMs: { type: 'integer', minimum: 0, default: 10000, description: 'On SIGTERM/SIGINT: time given to in-flight requests; those still waiting for their upstream then get 503, streams under way are cut, and the process exits 0.' },
      },
      default: {},
    },
    heap: {
      type: 'object',
      additionalProperties: false,
      description: 'How V8 sizes the heap of every thread of the process (set once at start; see architecture.md, Heap growth).',
      properties: {
        growthPercent: { type: 'integer', minimum: 0, maximum: 1000, default: 300, description: 'After a full GC a thread\'s old generation may grow by this percent before the next one (V8\'s --heap-growing-percent; 300 = V8\'s own largest factor, 4×). V8\'s adaptive factor keeps small heaps so close to their live size that every thread ran a full GC several times a second under large messages (measured: 22% more CPU per 64 KB transcoded call). 0: V8\'s own heuristic.' },
      },
      default: {},
    },
    paths: {
      type: 'object',
      additionalProperties: false,
      description: 'How request paths are normalised before routing (see Paths below and security.md).',
      properties: {
        mergeSlashes: { type: 'boolean', default: true, description: 'Merge repeated slashes ("//admin" is "/admin"), as nginx merge_slashes.' },
      },
      default: {},
    },
    transcoding: {
      type: 'object',
      additionalProperties: false,
      description: 'The Piscina pool that runs transcoded calls (see transcoding.md).',
      properties: {
        workers: { type: 'integer', minimum: 1, maximum: 64, default: 2, description: 'Worker threads of the pool.' },
        concurrentTasksPerWorker: { type: 'integer', minimum: 1, maximum: 1024, default: 16, description: 'Calls a worker runs at once (they are mostly waiting on the network).' },
        maxQueue: { type: 'integer', minimum: 0, maximum: 1000000, default: 1024, description: 'Calls waiting for a worker beyond this are answered 503 at once.' },
        compressAboveBytes: { type: 'integer', minimum: 0, maximum: 1073741824, default: 0, description: 'Unary JSON responses of at least this many bytes are compressed in the pool worker (br or gzip, the client\'s Accept-Encoding decides; inline calls and streams are not compressed). 0: off.' },
        inlineBelowBytes: { type: 'integer', minimum: 0, maximum: 1048576, default: 4096, description: 'Unary calls (and aggregate gRPC backends) with a smaller JSON body run in the front-end thread, without the worker hop; an answer message of this size or more is still mapped in a pool worker, and a call whose answer may be compressed (compressAboveBytes, the client sends Accept-Encoding) runs in the pool. 0: always the pool. See transcoding.md for the measurement.' },
        inlineWebSocketBelowBytes: { type: 'integer', minimum: 0, maximum: 1073741824, default: 1024, description: 'WebSocket ⇄ gRPC bridge calls (transcode.websocket) run in the front-end thread that holds the socket, and each message smaller than this (request JSON, answer protobuf) is mapped there; a larger one is mapped in a pool worker, in order. 1024 is about where mapping a field-heavy message costs the front thread what handing it to the pool does (~10 µs). 0: the whole call runs in the pool. See transcoding.md, WebSocket bridge.' },
        inlineComposeBelowBytes: { type: 'integer', minimum: 0, maximum: 1073741824, default: 16384, description: 'Aggregate routes: when the backends\' answers together are smaller than this, the front-end thread composes them itself (parse, filter, merge, serialise), and reads an earlier step\'s fields from a smaller answer, without the hop to a pool worker; larger ones go to the pool. 0: always the pool. See aggregation.md for the measurement.' },
        maxMessageBytes: { type: 'integer', minimum: 1024, maximum: 1073741824, default: 4194304, description: 'A gRPC response message larger than this fails the call (RESOURCE_EXHAUSTED → 429, as grpc-js).' },
      },
      default: {},
    },
    trustedProxies: { type: 'array', maxItems: 10000, items: { type: 'string', minLength: 1 }, description: 'CIDRs whose X-Forwarded-For is believed for the client address: every X-Forwarded-For line is joined in order, then the right-most address that is not a trusted proxy is the client.' },
    upstreams: {
      type: 'object',
      default: {},
      propertyNames: configName,
      description: 'Named upstream services (names: letters, digits, _ . -).',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['targets'],
        properties: {
          protocol: { enum: ['http', 'grpc'], default: 'http', description: 'grpc: a gRPC service reached through transcoding routes (targets grpc://host:port, and protos). See transcoding.md.' },
          http2: {
            type: 'object',
            additionalProperties: false,
            description: 'grpc upstreams: the HTTP/2 sessions to each target, per pool worker. See transcoding.md.',
            properties: {
              client: { enum: ['gateway', 'node'], default: 'gateway', description: 'Whose HTTP/2 client makes the calls: the gateway\'s own framing (a fraction of the CPU a call costs) or node:http2 (the reference it is tested against). See transcoding.md.' },
              maxConcurrentStreams: { type: 'integer', minimum: 1, maximum: 100000, default: 100, description: 'Calls on one session before another is opened (the server\'s SETTINGS_MAX_CONCURRENT_STREAMS applies too).' },
              maxSessions: { type: 'integer', minimum: 1, maximum: 1000, default: 4, description: 'Sessions per target; above maxSessions × streams, calls share the least busy session (HTTP/2 queues them).' },
              keepaliveMs: { type: 'integer', minimum: 0, maximum: 86400000, default: 0, description: 'A PING every this often on each session (0: none); check the server\'s ping policy (grpc-go allows one per 5 min without calls by default).' },
              keepaliveTimeoutMs: { type: 'integer', minimum: 100, maximum: 600000, default: 10000, description: 'A PING unanswered this long ends the session: its calls end UNAVAILABLE (and may be retried) instead of waiting for their deadline.' },
            },
          },
          compression: { enum: ['gzip', 'deflate'], description: 'grpc upstreams: compress every request message with this grpc-encoding (absent: uncompressed). Compressed answers (gzip, deflate) are always accepted and announced in grpc-accept-encoding. See transcoding.md.' },
          protos: {
            type: 'object',
            additionalProperties: false,
            description: 'Where a grpc upstream\'s descriptors come from, one of: .proto files (looked up in includeDirs, relative to the config file, then next to the config), a compiled FileDescriptorSet, or the upstream\'s server reflection.',
            properties: {
              files: { type: 'array', minItems: 1, maxItems: 10000, items: { type: 'string', minLength: 1 }, default: [], description: '.proto files to load.' },
              includeDirs: { type: 'array', maxItems: 1000, items: { type: 'string', minLength: 1 }, default: [], description: 'Where imports are looked up.' },
              descriptorSet: { type: 'string', minLength: 1, description: 'A FileDescriptorSet file (protoc --include_imports --descriptor_set_out=api.binpb), relative to the config file (as Envoy\'s proto_descriptor).' },
              reflection: { type: 'boolean', description: 'true: read the services from the upstream\'s gRPC server reflection (grpc.reflection.v1, then v1alpha) at start and on every reload; no proto files at the gateway. A failure at start stops it; on reload the previous descriptors are kept.' },
            },
          },
          targets: {
            type: 'array',
            minItems: 1,
            maxItems: 10000,
            description: 'Where requests go: [{ url, weight }] or [{ srv, weight }].',
            items: {
              type: 'object',
              additionalProperties: false,
              properties: {
                url: { type: 'string', minLength: 1, description: 'An origin without a path: http://host:port or https://… (grpc:// or grpcs:// for grpc upstreams; ws:// or wss:// make the routes to the upstream WebSocket routes).' },
                srv: { type: 'string', minLength: 1, description: 'SRV name (e.g. _http._tcp.users.internal) resolved into targets; needs dns.' },
                weight: { type: 'integer', minimum: 1, maximum: 1000, default: 1, description: 'Relative share; every balancer honours it.' },
              },
            },
          },
          connections: { type: 'integer', minimum: 1, maximum: 10000, default: 256, description: 'Keep-alive connections per target.' },
          maxQueue: { type: 'integer', minimum: 0, maximum: 1000000, default: 1024, description: 'Requests waiting for a free connection to one target; past it 503 at once.' },
          balance: { enum: ['round-robin', 'least-request', 'consistent-hash', 'random'], default: 'round-robin', description: 'round-robin: smooth weighted (nginx\'s algorithm); least-request: power of two random choices by in-flight per weight (Envoy\'s default); consistent-hash: a ring with 160 virtual nodes per unit of weight (adding a target moves ~1/N of keys); random: weighted random.' },
          hashOn: {
            description: 'consistent-hash key: { header }, { cookie } or ip (the client address; the default). A request without the key is spread round-robin. Only with balance: consistent-hash.',
            oneOf: [
              { const: 'ip' },
              { type: 'object', additionalProperties: false, required: ['header'], properties: { header: { type: 'string', minLength: 1, description: 'Header whose value is the key.' } } },
              { type: 'object', additionalProperties: false, required: ['cookie'], properties: { cookie: { type: 'string', minLength: 1, description: 'Cookie whose value is the key.' } } },
            ],
          },
          outlier: {
            type: 'object',
            additionalProperties: false,
            description: 'Passive ejection: consecutive 5xx answers, connect failures, resets or timeouts take a target out for baseEjectionMs × 2^(ejections−1), capped at maxEjectionMs.',
            properties: {
              enabled: { type: 'boolean', default: true, description: 'false turns passive ejection off.' },
              consecutiveFailures: { type: 'integer', minimum: 1, maximum: 1000, default: 5, description: 'Failures in a row that eject a target.' },
              baseEjectionMs: { type: 'integer', minimum: 1, default: 30000, description: 'First ejection time; doubled on each later ejection.' },
              maxEjectionMs: { type: 'integer', minimum: 1, default: 300000, description: 'Longest ejection.' },
              maxEjectionPercent: { type: 'integer', minimum: 0, maximum: 100, default: 50, description: 'Never more than this share of the targets ejected at once.' },
            },
            default: {},
          },
          breaker: {
            type: 'object',
            additionalProperties: false,
            description: 'Circuit breaker for the whole upstream (off unless configured). Closed: outcomes counted over windowMs; open: 503 with Retry-After at once; half-open: probes decide. Failures are 5xx, connect failures, resets and timeouts.',
            properties: {
              failureRatio: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.5, description: 'Opens when at least this share of the window failed.' },
              windowMs: { type: 'integer', minimum: 100, default: 10000, description: 'The window outcomes are counted over (10 buckets).' },
              minRequests: { type: 'integer', minimum: 1, default: 20, description: 'No decision on fewer requests in the window.' },
              openMs: { type: 'integer', minimum: 1, default: 5000, description: 'How long it stays open before probing.' },
              halfOpenRequests: { type: 'integer', minimum: 1, maximum: 1000, default: 3, description: 'Probes let through when half-open: all passing close it, one failing reopens it.' },
              halfOpenTimeoutMs: { type: 'integer', minimum: 1, default: 10000, description: 'Probes that have not all answered within this reopen the breaker.' },
            },
          },
          connectTimeoutMs: { type: 'integer', minimum: 1, default: 10000, description: 'Connection attempts that take longer fail (connect failure).' },
          timeouts: timeoutsSchema('for the routes to this upstream (a route\'s own win)'),
          healthCheck: {
            type: 'object',
            additionalProperties: false,
            description: 'Active health checks every intervalMs on every target: http upstreams GET path (with the target\'s Host header); grpc upstreams call grpc.health.v1.Health/Check for service.',
            properties: {
              path: { type: 'string', pattern: '^/', description: 'http upstreams (required there): the path to GET.' },
              service: { type: 'string', maxLength: 512, description: 'grpc upstreams: the service name sent in the HealthCheckRequest ("" or absent: the server as a whole); SERVING passes.' },
              intervalMs: { type: 'integer', minimum: 50, default: 1000, description: 'Time between checks of a target.' },
              timeoutMs: { type: 'integer', minimum: 10, default: 500, description: 'A check slower than this fails.' },
              healthyThreshold: { type: 'integer', minimum: 1, maximum: 100, default: 2, description: 'Passes in a row that bring a target back.' },
              unhealthyThreshold: { type: 'integer', minimum: 1, maximum: 100, default: 2, description: 'Failures in a row that take a target out.' },
              expectStatus: { type: 'array', minItems: 1, maxItems: 100, items: { type: 'integer', minimum: 100, maximum: 599 }, default: [200], description: 'Statuses that pass.' },
            },
          },
          dns: {
            type: 'object',
            additionalProperties: false,
            description: 'Re-resolve hostname targets (A/AAAA, or SRV for srv targets) on their TTL, at most every refreshMs; new addresses join, removed ones drain, a failed lookup keeps the last answer. Without dns the OS resolves a name on every new connection.',
            properties: {
              refreshMs: { type: 'integer', minimum: 100, default: 30000, description: 'Shortest time between lookups of a name.' },
              servers: { type: 'array', maxItems: 16, items: { type: 'string', minLength: 1 }, description: 'DNS servers ("ip" or "ip:port"); default: the system resolver.' },
            },
          },
          keepAliveTimeoutMs: { type: 'integer', minimum: 100, default: 60000, description: 'Idle time before an upstream connection is closed.' },
          tls: {
            type: 'object',
            additionalProperties: false,
            description: 'For https targets: certificates are verified against the system CAs (or caFile); insecureSkipVerify turns that off and must be explicit.',
            properties: {
              caFile: { type: 'string', minLength: 1, description: 'PEM CA bundle (relative to the config file).' },
              serverName: { type: 'string', minLength: 1, description: 'SNI and certificate name (default: the target\'s host).' },
              insecureSkipVerify: { type: 'boolean', default: false, description: 'Do not verify the upstream certificate.' },
            },
          },
          timeoutMs: { type: 'integer', minimum: 1, description: 'Older shorthand for timeouts.totalMs.' },
        },
      },
    },
    routes: {
      type: 'array',
      maxItems: 100000,
      description: 'Routes; order matters only among routes that are otherwise equally specific (see Route precedence).',
      items: {
        type: 'object',
        additionalProperties: false,
        // A proxying route needs match and upstream; a transcoding route has neither; an aggregate route needs match.
        if: { properties: { transcode: false, aggregate: false } },
        then: { required: ['match', 'upstream'] },
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 256, description: 'Unique (default route-<index>); shown in the admin API, logs and metrics.' },
          transcode: {
            type: 'object',
            additionalProperties: false,
            required: ['upstream'],
            description: 'REST/JSON → gRPC: every google.api.http binding of the services becomes a route (replaces upstream; match defaults to every path). See transcoding.md.',
            properties: {
              upstream: { type: 'string', minLength: 1, description: 'A protocol: grpc upstream.' },
              services: { type: 'array', maxItems: 1000, items: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_.]*$' }, description: 'Fully qualified services to expose (default: all in the protos).' },
              fallback: { type: 'boolean', default: false, description: 'Methods without an annotation answer POST /package.Service/Method (body: the whole request).' },
              emitDefaults: { type: 'boolean', default: false, description: 'Include fields with default values in responses.' },
              useProtoNames: { type: 'boolean', default: false, description: 'Response field names as in the .proto (snake_case) instead of lowerCamelCase JSON names (requests accept both).' },
              enumsAsInts: { type: 'boolean', default: false, description: 'Enum values in responses as numbers instead of names (requests accept both).' },
              ignoreUnknownQuery: { type: 'boolean', default: false, description: 'Query parameters that name no field of the request are skipped (as grpc-gateway does) instead of a 400 (a cache-buster like ?_=123 then passes).' },
              forwardHeaders: { type: 'array', maxItems: 256, items: { type: 'string', pattern: '^[A-Za-z0-9-]+$' }, default: [], description: 'Request headers sent as gRPC metadata, besides authorization, x-request-id, traceparent and the identity headers.' },
              grpcWeb: { type: 'boolean', default: false, description: 'Also accept gRPC-Web (application/grpc-web, +proto, -text) at POST /package.Service/Method for unary and server-streaming methods of the services, forwarded as native gRPC; answers end with the gRPC-Web trailers frame. See transcoding.md, gRPC-Web.' },
              websocket: { ...websocketSchema, description: 'true, or the WebSocket settings (as a websocket route\'s): every method of the services (unary, server-, client- and bidi-streaming) is also reached over WebSocket at its HTTP binding path or /package.Service/Method — JSON text frames, or grpc-websockets binary frames; the gRPC status closes the socket with 4000 + code. See transcoding.md, WebSocket bridge.' },
            },
          },
          aggregate: aggregateSchema,
          websocket: websocketSchema,
          match: {
            type: 'object',
            additionalProperties: false,
            description: 'What requests the route takes (every part must match).',
            properties: {
              methods: { type: 'array', minItems: 1, maxItems: 64, items: { type: 'string', pattern: '^[A-Za-z]+$' }, description: 'Methods (default any). A path that matches with another method → 405 with Allow.' },
              host: {
                description: 'One host or a list (default any); "*.example.com" matches any subdomain (not the bare domain). The port in Host is ignored.',
                oneOf: [
                  { type: 'string', minLength: 1 },
                  { type: 'array', minItems: 1, maxItems: 10000, items: { type: 'string', minLength: 1 } },
                ],
              },
              path: { type: 'string', pattern: '^/', description: 'Path pattern: literal segments, :param segments, and a trailing * (the rest; /a/* also matches /a).' },
              prefix: { type: 'string', pattern: '^/', description: 'prefix: /api is path: /api/*. Give path or prefix, not both; neither: every path.' },
              headers: { type: 'object', maxProperties: 64, additionalProperties: valueMatcher, description: '{ name: matcher }: every one must match.' },
              query: { type: 'object', maxProperties: 64, additionalProperties: valueMatcher, description: '{ param: matcher }: every one must match.' },
            },
          },
          upstream: { type: 'string', minLength: 1, description: 'Name of an upstream (required unless transcode or aggregate).' },
          stripPrefix: { oneOf: [{ type: 'boolean' }, { type: 'string', pattern: '^/' }], description: 'true: remove the literal part of the pattern before the first :param or * (/api/users/* → /api/users/7 becomes /7); a string: remove that prefix.' },
          rewrite: { type: 'string', pattern: '^/', description: 'Upstream path template: :name is the (re-encoded) param, * the wildcard rest. The query string is kept. Give stripPrefix or rewrite, not both.' },
          timeoutMs: { type: 'integer', minimum: 1, description: 'Shorthand for timeouts.totalMs.' },
          timeouts: timeoutsSchema('of this route (default: the upstream\'s)'),
          retry: {
            type: 'object',
            additionalProperties: false,
            description: 'Retries to another target when there is one (see Retry rules). Without a retry block, connect failures are retried once.',
            properties: {
              attempts: { type: 'integer', minimum: 0, maximum: 10, default: 1, description: 'Retries after the first try.' },
              on: {
                type: 'array',
                items: { enum: ['connect-failure', 'reset', 'timeout', 502, 503, 504] },
                default: ['connect-failure', 'reset', 502, 503, 504],
                description: 'What is retried: connect-failure, reset (closed before the response), timeout (first byte), upstream 502/503/504.',
              },
              backoffMs: { type: 'integer', minimum: 0, maximum: 60000, default: 25, description: 'Base backoff; attempt n waits base × 2^(n−1) × a random factor in [0.5, 1.5).' },
              budgetPercent: { type: 'integer', minimum: 0, maximum: 100, default: 20, description: 'Retries are at most this share of the route\'s requests (a token bucket), so retries never multiply an outage.' },
              bufferBodyBytes: { type: 'integer', minimum: 0, maximum: 16777216, default: 0, description: 'Request bodies with a Content-Length up to this are read whole before sending, so that retries can replay them.' },
              grpcCodes: { type: 'array', minItems: 1, maxItems: 16, items: { enum: ['CANCELLED', 'UNKNOWN', 'DEADLINE_EXCEEDED', 'RESOURCE_EXHAUSTED', 'ABORTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS'] }, description: 'Transcoding routes: the gRPC codes retried on another target, for every method (default: UNAVAILABLE, for idempotent methods only). `on` and bufferBodyBytes are for HTTP routes.' },
            },
          },
          preserveHost: { type: 'boolean', default: false, description: 'Forward the client\'s Host instead of the target\'s host:port.' },
          accessLog: { type: 'boolean', default: true, description: 'false: no access log lines for this route (metrics still count it).' },
          allowInPath: { type: 'array', uniqueItems: true, items: { enum: ['encoded-slash', 'backslash', 'semicolon'] }, default: [], description: 'Path constructs this route accepts (each is a 400 otherwise): %2F or %5C, a raw backslash, ";" path parameters.' },
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
