// One error type for everything the gateway answers with itself. A stable `code`,
// where it came from, whether a retry may help, and the HTTP status, mapped in one place.
export type ErrorSource = 'client' | 'upstream' | 'internal';

export const ERROR_STATUS = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  route_not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  payload_too_large: 413,
  uri_too_long: 414,
  unsupported_media_type: 415,
  header_fields_too_large: 431,
  rate_limited: 429,
  quota_exceeded: 429,
  internal_error: 500,
  not_implemented: 501,
  upstream_unavailable: 502,
  upstream_reset: 502,
  upstream_bad_response: 502,
  service_unavailable: 503,
  upstream_timeout: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly source: ErrorSource;
  readonly retryable: boolean;
  /** machine-readable specifics (e.g. schema violations), sent in error.details */
  details?: unknown[];
  constructor(code: ErrorCode, message: string, source: ErrorSource = 'client', retryable = false) {
    // Expected errors are created per request on hot paths: skip the stack capture.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.source = source;
    this.retryable = retryable;
  }
}

/** The JSON body every gateway-generated error carries. */
export function errorBody(code: string, message: string, requestId: string, details?: unknown[]): string {
  return JSON.stringify({ error: details ? { code, message, requestId, details } : { code, message, requestId } });
}
