// The access log: one line per exchange, written when it is over, off the hot path (a
// LineWriter: batched asynchronous appends to a file, or fd 1), so a request never waits for
// a disk. A JSON line is the fields alone (no level, pid or hostname), serialised by hand
// in a fixed order (JSON.stringify of the object cost twice as much, bench:observability).
// Each front-end thread has its own writer on the same file; SIGUSR1 reopens them (logrotate).
import type { ObservabilityConfig } from '../../config/types.js';
import { LineWriter } from './line-writer.js';

type AccessLogConfig = ObservabilityConfig['accessLog'];

/** The fields of a line (docs/observability.md). */
export interface AccessLogFields {
  start_time: string;
  duration_ms: number;
  method: string;
  path: string;
  query: string;
  protocol: string;
  status: number;
  response_flags: string;
  bytes_received: number;
  bytes_sent: number;
  route: string;
  upstream: string;
  upstream_target: string;
  upstream_duration_ms: number | null;
  retries: number;
  request_id: string;
  trace_id: string;
  consumer: string;
  client_ip: string;
  user_agent: string;
  request_headers?: Record<string, string>;
}

type Part = string | { field: keyof AccessLogFields };

function compileTemplate(template: string): Part[] {
  const parts: Part[] = [];
  let last = 0;
  for (const m of template.matchAll(/\{([a-z_]+)\}/g)) {
    if (m.index > last) parts.push(template.slice(last, m.index));
    parts.push({ field: m[1] as keyof AccessLogFields });
    last = m.index + m[0].length;
  }
  if (last < template.length) parts.push(template.slice(last));
  return parts;
}

export const TEMPLATE_FIELDS: ReadonlyArray<keyof AccessLogFields> = ['start_time', 'duration_ms', 'method', 'path', 'query', 'protocol', 'status', 'response_flags', 'bytes_received', 'bytes_sent', 'route', 'upstream', 'upstream_target', 'upstream_duration_ms', 'retries', 'request_id', 'trace_id', 'consumer', 'client_ip', 'user_agent'];

/** `\uXXXX` for a UTF-16 unit: what keeps every line ASCII, in both formats. */
const uEscape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** A text line's value: no control characters (a client's user agent cannot forge a line), ASCII only. */
const textValue = (v: unknown): string => (v === '' || v === null || v === undefined ? '-' : String(v).replace(/[\x00-\x1f\x7f-\uffff"\\]/g, (c) => (c.charCodeAt(0) < 0x100 ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : uEscape(c))));

// Lines are pure ASCII (non-ASCII is written as \uXXXX, valid JSON), so they are written as
// latin1, byte for byte, without a UTF-8 pass. Client values are ASCII already (the header
// scanner and the path normaliser refuse the rest); names from the config may not be.
const NEEDS_ESCAPE = /["\\\x00-\x1f\x7f-\uffff]/;
const NON_ASCII = /[\x7f-\uffff]/g;
/** A JSON string; most values need no escaping, and the test is cheaper than JSON.stringify. */
const str = (s: string): string => (NEEDS_ESCAPE.test(s) ? JSON.stringify(s).replace(NON_ASCII, uEscape) : `"${s}"`);
/** Milliseconds with three decimals, from integers (a double's toString showed in the profile). */
function ms3(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return 'null';
  if (ms < 0) return String(ms);
  const us = Math.round(ms * 1000);
  const frac = us % 1000;
  return `${(us - frac) / 1000}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
}

/** Route names (from the config) quoted once. */
const quotedNames = new Map<string, string>();
function quotedName(name: string): string {
  let q = quotedNames.get(name);
  if (q === undefined) { if (quotedNames.size > 10_000) quotedNames.clear(); quotedNames.set(name, q = str(name)); }
  return q;
}

/**
 * The line of `f` in JSON, fields in the documented order. Values the gateway made or
 * checked cannot need escaping (a time, the protocol, flags, hex ids, an address, upstream
 * and target names of the config); the client's own (the method too) are escaped.
 */
export function jsonLine(f: AccessLogFields): string {
  let line = `{"start_time":"${f.start_time}","duration_ms":${ms3(f.duration_ms)},"method":${str(f.method)},"path":${str(f.path)},"query":${str(f.query)},"protocol":"${f.protocol}","status":${f.status},"response_flags":"${f.response_flags}","bytes_received":${f.bytes_received},"bytes_sent":${f.bytes_sent},"route":${quotedName(f.route)},"upstream":"${f.upstream}","upstream_target":"${f.upstream_target}","upstream_duration_ms":${ms3(f.upstream_duration_ms)},"retries":${f.retries},"request_id":${str(f.request_id)},"trace_id":"${f.trace_id}","consumer":${f.consumer ? str(f.consumer) : '""'},"client_ip":"${f.client_ip}","user_agent":${str(f.user_agent)}`;
  const h = f.request_headers;
  if (h) {
    line += ',"request_headers":{';
    let first = true;
    for (const k in h) { line += `${first ? '' : ','}${str(k)}:${str(h[k]!)}`; first = false; }
    line += '}';
  }
  return line + '}\n';
}

let isoMs = NaN;
let isoText = '';
/** The ISO time of an epoch millisecond count (cached: a busy thread logs many lines per millisecond). */
export function isoTime(epochMs: number): string {
  const ms = Math.floor(epochMs);
  if (ms !== isoMs) { isoMs = ms; isoText = new Date(ms).toISOString(); }
  return isoText;
}

export class AccessLog {
  private readonly dest: LineWriter;
  private readonly parts: Part[] | null;
  readonly sample: number;
  readonly headers: readonly string[];

  constructor(cfg: AccessLogConfig, onDrop?: () => void) {
    this.dest = new LineWriter(cfg.path ?? null, onDrop);
    this.sample = cfg.sample;
    this.headers = cfg.requestHeaders.map((h) => h.toLowerCase());
    this.parts = cfg.format === 'text' ? compileTemplate(cfg.template) : null;
  }

  /** Whether this exchange is logged (sampling; errors always are). */
  wants(status: number): boolean {
    return this.sample >= 1 || status >= 500 || Math.random() < this.sample;
  }

  write(f: AccessLogFields): void {
    const parts = this.parts;
    if (!parts) { this.dest.write(jsonLine(f)); return; }
    let line = '';
    for (const p of parts) line += typeof p === 'string' ? p : textValue(f[p.field]);
    this.dest.write(line + '\n');
  }

  /** After logrotate moved the file: open the path again. */
  reopen(): void { this.dest.reopen(); }

  close(): void { this.dest.close(); }
}
