// The access log: one line per exchange, written when it is over, off the hot path — pino's
// asynchronous destination (sonic-boom: a file opened for append, or fd 1), so a request
// never waits for a disk. A JSON line is the fields alone (no level, pid or hostname).
// Each front-end thread has its own destination on the same file (appends of whole lines
// do not interleave); SIGUSR1 reopens them (logrotate).
import { pino, type DestinationStream } from 'pino';
import type { ObservabilityConfig } from '../../config/types.js';

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

/** A text line's value: no control characters (a client's user agent cannot forge a line). */
const textValue = (v: unknown): string => (v === '' || v === null || v === undefined ? '-' : String(v).replace(/[\x00-\x1f\x7f"\\]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));

export class AccessLog {
  private readonly dest: DestinationStream & { reopen(file?: string): void; flushSync(): void; end(): void };
  private readonly parts: Part[] | null;
  readonly sample: number;
  readonly headers: readonly string[];

  constructor(cfg: AccessLogConfig) {
    this.dest = pino.destination({ dest: cfg.path ?? 1, sync: false, mkdir: cfg.path !== undefined, append: true }) as AccessLog['dest'];
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
    if (!parts) { this.dest.write(JSON.stringify(f) + '\n'); return; }
    let line = '';
    for (const p of parts) line += typeof p === 'string' ? p : textValue(f[p.field]);
    this.dest.write(line + '\n');
  }

  /** After logrotate moved the file: open the path again. */
  reopen(): void { this.dest.reopen(); }

  close(): void {
    try { this.dest.flushSync(); } catch { /* not open yet, or already closed */ }
  }
}
