// What an upstream exchange failed with, as the one error type: a socket's errno, an HTTP
// parse error or the client's own refusals become GatewayErrors with stable codes (the
// original error stays as `cause`, for logs). Retry decisions read their code and
// `retryable`; the client sees their status and message (never an upstream address).
import { GatewayError } from '../errors.js';

const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ETIMEDOUT', 'EADDRNOTAVAIL']);
const RESETS = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

export function upstreamFailure(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const code = (err as { code?: string } | null)?.code;
  const cause = { cause: err };
  if (code && CONNECT_FAILURES.has(code)) return new GatewayError('upstream_unavailable', 'upstream is unavailable (connection failed)', cause);
  if (code && RESETS.has(code)) return new GatewayError('upstream_reset', 'upstream closed the connection', cause);
  if (code?.startsWith('HPE_')) return new GatewayError('upstream_bad_response', 'upstream sent an invalid response', cause);
  return new GatewayError('upstream_bad_response', 'upstream request failed', cause);
}

export const upstreamClosed = () => new GatewayError('upstream_reset', 'upstream closed the connection');
