// One error type for everything the gateway answers with itself: a stable `code`, its HTTP
// status, where it came from (`source`) and whether another attempt may help (`retryable`),
// all fixed per code in one table — the table docs/errors.md is generated from.
export type ErrorSource = 'client' | 'upstream' | 'internal';

interface ErrorSpec { readonly status: number; readonly source: ErrorSource; readonly retryable: boolean; readonly when: string }

const spec = (status: number, source: ErrorSource, retryable: boolean, when: string): ErrorSpec => ({ status, source, retryable, when });

export const ERRORS = {
  bad_request: spec(400, 'client', false, 'a malformed request: framing (conflicting Content-Length, Content-Length with Transfer-Encoding, a Transfer-Encoding other than chunked or on HTTP/1.0, Connection naming a framing header, HTTP/1.1 without Host: these close the connection), control or non-ASCII bytes, a bad path or query, a path construct the route does not accept, a request that does not match the route\'s schema (details lists every violation)'),
  unauthorized: spec(401, 'client', false, 'no credentials, or none valid (with WWW-Authenticate)'),
  forbidden: spec(403, 'client', false, 'refused by ip-filter, acl or a CORS preflight; a foreign Origin on the admin API'),
  route_not_found: spec(404, 'client', false, 'no route (or no gRPC binding) for the method and path'),
  not_found: spec(404, 'client', false, 'admin API: no such endpoint or consumer'),
  method_not_allowed: spec(405, 'client', false, 'the path is routed, the method is not (with Allow)'),
  request_timeout: spec(408, 'client', false, 'node engine: headers or the whole request not received in time'),
  payload_too_large: spec(413, 'client', false, 'a body over limits.maxBodyBytes, or over limits.maxBufferedBodyBytes where it is read whole'),
  uri_too_long: spec(414, 'client', false, 'a request target over limits.maxUriBytes'),
  unsupported_media_type: spec(415, 'client', false, 'a route validating bodies got a non-JSON one; an admin reload body that is not JSON or YAML'),
  misdirected_request: spec(421, 'client', false, 'admin API: the Host header does not name the admin listener'),
  rate_limited: spec(429, 'client', true, 'a route or plan rate limit (with Retry-After, RateLimit, RateLimit-Policy)'),
  quota_exceeded: spec(429, 'client', true, 'the consumer\'s plan quota is used up (with Retry-After, X-Quota-*)'),
  upgrade_required: spec(426, 'client', false, 'a WebSocket route got a request that is not a WebSocket upgrade (with Upgrade: websocket)'),
  header_fields_too_large: spec(431, 'client', false, 'headers over limits.maxHeaderBytes or limits.maxHeaderCount'),
  client_closed: spec(499, 'client', false, 'the client went away before the answer (internal: nothing is sent)'),
  invalid_config: spec(400, 'client', false, 'admin API: a reload with a config that does not load (problems lists every one); the running config is kept'),
  internal_error: spec(500, 'internal', false, 'a bug in the gateway: logged with the request id; that one request only'),
  upstream_unavailable: spec(502, 'upstream', true, 'the connection to the upstream failed (refused, unreachable, DNS)'),
  upstream_tls: spec(502, 'upstream', false, 'the upstream\'s TLS handshake failed (certificate not trusted, wrong name, ...)'),
  upstream_reset: spec(502, 'upstream', true, 'the upstream closed or reset the connection before its answer'),
  upstream_bad_response: spec(502, 'upstream', false, 'the upstream\'s answer was not valid HTTP'),
  circuit_open: spec(503, 'upstream', true, 'the upstream\'s circuit breaker is open (with Retry-After)'),
  no_healthy_target: spec(503, 'upstream', true, 'every target of the upstream is unhealthy or ejected'),
  upstream_saturated: spec(503, 'upstream', true, 'the connection queue of the upstream target is full (upstreams.NAME.maxQueue)'),
  transcoding_saturated: spec(503, 'internal', true, 'the transcoding pool\'s queue is full (transcoding.maxQueue; with Retry-After)'),
  service_unavailable: spec(503, 'internal', true, 'the gateway is shutting down (or the upstream pool of a retired config closed), or (uws) limits.maxConnections requests are in progress'),
  websocket_connection_limit: spec(503, 'internal', true, 'a WebSocket route has websocket.maxConnections connections open on this front-end thread (with Retry-After)'),
  websocket_upgrade_refused: spec(502, 'upstream', false, 'the upstream answered a WebSocket upgrade with a 5xx or a non-101 success (its 4xx statuses are passed through)'),
  aggregate_missing_value: spec(400, 'client', false, 'an aggregate route: a required backend\'s placeholder reads a query parameter, header or identity field the request does not have'),
  aggregate_backend_failed: spec(502, 'upstream', false, 'an aggregate route: a required backend (named in the message) failed — no connection, a 5xx, an answer that is not JSON or too large — or every backend failed'),
  aggregate_backend_unavailable: spec(503, 'upstream', true, 'an aggregate route: a required backend\'s upstream has no healthy target or an open circuit (or gRPC UNAVAILABLE)'),
  aggregate_backend_timeout: spec(504, 'upstream', true, 'an aggregate route: a required backend did not answer within its timeoutMs or the aggregate\'s'),
  upstream_timeout: spec(504, 'upstream', true, 'the route\'s timeout (totalMs, or firstByteMs per attempt) expired before the upstream answered'),
  upstream_connect_timeout: spec(504, 'upstream', true, 'no connection to the upstream within timeouts.connectMs'),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly source: ErrorSource;
  /** another attempt (a retry to another target, or the client later) may succeed */
  readonly retryable: boolean;
  /** machine-readable specifics (e.g. schema violations), sent in error.details */
  details?: unknown[];
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    // Expected errors are created per request on hot paths: skip the stack capture.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message, options);
    Error.stackTraceLimit = limit;
    const s: ErrorSpec = ERRORS[code];
    this.code = code;
    this.status = s.status;
    this.source = s.source;
    this.retryable = s.retryable;
  }
}

/** The JSON body every gateway-generated error carries. */
export function errorBody(code: ErrorCode, message: string, requestId: string, details?: unknown[]): string {
  return JSON.stringify({ error: details ? { code, message, requestId, details } : { code, message, requestId } });
}
