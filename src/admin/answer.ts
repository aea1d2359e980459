// JSON answers of the admin listener and the metrics listener: a body, or an error whose
// status is its code's (src/errors.ts), like every gateway error.
import type http from 'node:http';
import { ERRORS, type ErrorCode } from '../errors.js';

export function send(res: http.ServerResponse, status: number, body: unknown, extra: Record<string, string | string[]> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

export function fail(res: http.ServerResponse, code: ErrorCode, message: string, more: Record<string, unknown> = {}, extra: Record<string, string | string[]> = {}): void {
  send(res, ERRORS[code].status, { error: { code, message, ...more } }, extra);
}

/** A request a browser page made (Origin, or a cross-site Sec-Fetch-Site): the token-less
 *  listeners (metrics, status) refuse it, so no page can read them through DNS rebinding. */
export function fromBrowser(req: http.IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  return req.headers.origin !== undefined || (site !== undefined && site !== 'none');
}
