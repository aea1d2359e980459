// Request validation against JSON Schemas (ajv), compiled once per config: the body
// (JSON only: other content types get 415), the query (values coerced from strings) and
// the headers. Violations answer 400 with every error by JSON pointer.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

export interface ValidateConfig {
  body?: Record<string, unknown>;
  query?: Record<string, unknown>;
  headers?: Record<string, unknown>;
}

export interface Violation { in: 'body' | 'query' | 'headers'; pointer: string; message: string }

const strictAjv = new Ajv({ allErrors: true, strict: false });
const coercingAjv = new Ajv({ allErrors: true, strict: false, coerceTypes: 'array' });

/** Compiled once per schema object (the load check and the table share it; it goes with the config). */
const compiled = new WeakMap<object, ValidateFunction>();

/** Compiles a user schema (throws when it is not a valid JSON Schema). `coerce`: query and headers arrive as strings. */
export function compileUserSchema(schema: Record<string, unknown>, coerce: boolean): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    const ajv = coerce ? coercingAjv : strictAjv;
    fn = ajv.compile(schema);
    ajv.removeSchema(schema); // ajv's own cache would keep every reload's schemas
    compiled.set(schema, fn);
  }
  return fn;
}

function violations(where: Violation['in'], errors: ErrorObject[] | null | undefined): Violation[] {
  return (errors ?? []).map((e) => {
    let pointer = e.instancePath || '';
    if (e.keyword === 'required') pointer += `/${(e.params as { missingProperty: string }).missingProperty}`;
    if (e.keyword === 'additionalProperties') pointer += `/${(e.params as { additionalProperty: string }).additionalProperty}`;
    return { in: where, pointer: pointer || '/', message: e.message ?? 'is invalid' };
  });
}

export class RequestValidator {
  private readonly body: ValidateFunction | null;
  private readonly query: ValidateFunction | null;
  private readonly headers: ValidateFunction | null;

  constructor(cfg: ValidateConfig) {
    this.body = cfg.body ? compileUserSchema(cfg.body, false) : null;
    this.query = cfg.query ? compileUserSchema(cfg.query, true) : null;
    this.headers = cfg.headers ? compileUserSchema(cfg.headers, true) : null;
  }

  get needsBody(): boolean { return this.body !== null; }

  /** Query and headers; the body is checked by checkBody once it has been read. */
  checkHead(query: URLSearchParams, rawHeaders: string[]): Violation[] {
    const out: Violation[] = [];
    if (this.query) {
      const q: Record<string, string | string[]> = {};
      for (const [k, v] of query) {
        const cur = q[k];
        q[k] = cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [cur, v];
      }
      if (!this.query(q)) out.push(...violations('query', this.query.errors));
    }
    if (this.headers) {
      const h: Record<string, string> = {};
      for (let i = 0; i < rawHeaders.length; i += 2) h[rawHeaders[i]!] = h[rawHeaders[i]!] === undefined ? rawHeaders[i + 1]! : `${h[rawHeaders[i]!]}, ${rawHeaders[i + 1]}`;
      if (!this.headers(h)) out.push(...violations('headers', this.headers.errors));
    }
    return out;
  }

  /** The parsed JSON body. */
  checkBody(value: unknown): Violation[] {
    if (!this.body || this.body(value)) return [];
    return violations('body', this.body.errors);
  }
}

/** Is this Content-Type JSON (application/json or +json)? */
export function isJson(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const t = contentType.split(';')[0]!.trim().toLowerCase();
  return t === 'application/json' || t.endsWith('+json');
}
