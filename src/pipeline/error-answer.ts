// The one place a gateway-made error becomes bytes: JSON `{"error": {code, message,
// requestId, details?}}` with the status mapped from the code (src/errors.ts).
import { errorBody, type GatewayError } from '../errors.js';
import type { ResponseSink } from '../server/types.js';

const JSON_HEADERS = ['content-type', 'application/json'];

/** Answers `err` as JSON. `close`: close the connection after it (framing errors, unread bodies). */
export function sendError(sink: ResponseSink, err: GatewayError, requestId: string, extra?: readonly string[] | null, close: boolean | 'framing' = false): void {
  const headers = [...JSON_HEADERS, 'x-request-id', requestId];
  if (extra) headers.push(...extra);
  sink.sendFull(err.status, headers, errorBody(err.code, err.message, requestId, err.details), close);
}
