import { STATUS_CODES } from 'node:http';

const cache = new Map<number, string>();

/** "200 OK", cached: uWS wants the whole status line text. */
export function statusLine(status: number): string {
  let s = cache.get(status);
  if (s === undefined) {
    s = `${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
    cache.set(status, s);
  }
  return s;
}
