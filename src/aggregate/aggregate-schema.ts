// The `aggregate` key of a route (docs/aggregation.md): one client request, several
// backends (HTTP and gRPC) composed into one JSON answer. A target, like transcode.

const name = { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_-]{0,63}$' } as const;
const dotPath = { type: 'string', pattern: '^[^.\\s]+(\\.[^.\\s]+)*$', maxLength: 256 } as const;

const backend = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  description: 'One backend call. Give upstream + path (HTTP) or grpc.',
  properties: {
    name: { ...name, description: 'Unique in the aggregate; names the backend in headers, errors, `after` and {steps.NAME...} placeholders.' },
    upstream: { type: 'string', minLength: 1, description: 'An HTTP upstream (with path).' },
    path: { type: 'string', pattern: '^/', maxLength: 4096, description: 'Path and query sent upstream; {params.x}, {query.x}, {headers.x}, {identity.x}, {steps.NAME.a.b} are replaced, each value percent-encoded (arrays joined with commas).' },
    method: { type: 'string', pattern: '^[A-Z]+$', default: 'GET', description: 'HTTP method of the call.' },
    body: {
      description: 'Send the client\'s JSON body (true), or the part of it at a JSON pointer ("/order"), as the request body (application/json).',
      oneOf: [{ type: 'boolean' }, { type: 'string', pattern: '^(/[^/]*)+$', maxLength: 256 }],
    },
    grpc: {
      type: 'object',
      additionalProperties: false,
      required: ['upstream', 'method'],
      description: 'A unary gRPC call (instead of upstream + path).',
      properties: {
        upstream: { type: 'string', minLength: 1, description: 'A protocol: grpc upstream.' },
        method: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_.]*/[A-Za-z_][A-Za-z0-9_]*$', description: 'package.Service/Method (unary).' },
        request: { type: 'object', maxProperties: 256, description: 'The request message in proto3 JSON; string values take placeholders (a string that is one placeholder keeps the value\'s JSON type).' },
      },
    },
    required: { type: 'boolean', default: false, description: 'A required backend failing fails the request (its status, or 502/503/504 naming it).' },
    after: { type: 'array', maxItems: 32, uniqueItems: true, items: name, default: [], description: 'Backends that must answer first (their fields are {steps.NAME...}); without it, backends run in parallel.' },
    timeoutMs: { type: 'integer', minimum: 1, maximum: 600000, description: 'This call (default: the aggregate\'s timeoutMs).' },
    target: { ...dotPath, description: 'Take this sub-object of the response as its root (before allow/deny).' },
    allow: { type: 'array', minItems: 1, maxItems: 256, items: dotPath, description: 'Keep only these fields (dot paths into objects).' },
    deny: { type: 'array', minItems: 1, maxItems: 256, items: dotPath, description: 'Remove these fields (dot paths).' },
    mapping: { type: 'object', maxProperties: 256, additionalProperties: { type: 'string', minLength: 1, maxLength: 256 }, description: 'Rename top-level fields: { from: to }.' },
    group: { type: 'string', minLength: 1, maxLength: 256, description: 'Put the result under this key.' },
    isCollection: { type: 'boolean', default: false, description: 'The response is a JSON array: it becomes { collection: [...] } (rename it with mapping).' },
    raw: { type: 'boolean', default: false, description: 'Do not parse: the body goes under `group` (default: the backend\'s name) as a string.' },
    fallback: { description: 'The result used when this optional backend fails or times out (any JSON; grouped like a result).' },
    retry: {
      type: 'object',
      additionalProperties: false,
      description: 'Retries of this call (HTTP backends; default: connect failures once).',
      properties: {
        attempts: { type: 'integer', minimum: 0, maximum: 10, default: 1, description: 'Retries after the first try.' },
        on: { type: 'array', items: { enum: ['connect-failure', 'reset', 'timeout', 502, 503, 504] }, default: ['connect-failure'], description: 'What is retried (as for routes).' },
        backoffMs: { type: 'integer', minimum: 0, maximum: 60000, default: 25, description: 'Base backoff (as for routes).' },
        budgetPercent: { type: 'integer', minimum: 0, maximum: 100, default: 20, description: 'Retries are at most this share of the backend\'s calls.' },
      },
    },
  },
} as const;

export const aggregateSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['backends'],
  description: 'Compose several backends into one JSON answer (replaces upstream; see aggregation.md).',
  properties: {
    timeoutMs: { type: 'integer', minimum: 1, maximum: 600000, default: 3000, description: 'The whole composition: backends still running then count as timed out (504).' },
    merge: { enum: ['shallow', 'deep', 'concat'], default: 'shallow', description: 'shallow: top-level keys, later backends (declared order) win; deep: objects merged recursively; concat: deep, and arrays under the same key are concatenated.' },
    errors: { enum: ['omit', 'include'], default: 'omit', description: 'include: failed optional backends are listed in an `_errors` object ({ name: { status, message } }).' },
    maxBackendBytes: { type: 'integer', minimum: 1, maximum: 67108864, default: 4194304, description: 'A backend response larger than this fails that backend.' },
    backends: { type: 'array', minItems: 1, maxItems: 32, items: backend, description: 'The calls, in merge order.' },
  },
} as const;
