// validate: the request against the route's JSON Schemas (ajv) — the query and headers
// first, then the body (JSON only: 415 otherwise), read whole (bounded) and parsed once.
// Violations answer 400 with every problem by JSON pointer. Schemas compile at load.
import { GatewayError } from '../../errors.js';
import type { CheckEnv, Policy, PolicyFactory, Verdict } from '../../pipeline/policy.js';
import type { RequestCtx } from '../../pipeline/request-ctx.js';
import { RequestValidator, compileUserSchema, isJson, type Violation } from './request-validation.js';

const PARTS = ['body', 'query', 'headers'] as const;

/** `{ $ref: "file.json" }` (a schema that is only a reference to a file): the file's name. */
function fileRefOf(schema: Record<string, unknown>): string | undefined {
  const ref = schema.$ref;
  return typeof ref === 'string' && !ref.startsWith('#') && Object.keys(schema).length === 1 ? ref : undefined;
}

function invalidRequest(violations: Violation[]): GatewayError {
  const err = new GatewayError('bad_request', `the request does not match the route's schema (${violations.length} problem${violations.length === 1 ? '' : 's'})`);
  err.details = violations;
  return err;
}

class ValidateRoute implements Policy {
  readonly id = 'validate';
  constructor(private readonly v: RequestValidator) { Object.freeze(this); }

  onRequest(ctx: RequestCtx): Verdict | Promise<Verdict> {
    const v = this.v;
    const bad = v.checkHead(ctx.query(), ctx.head.rawHeaders);
    if (bad.length) { ctx.fail(invalidRequest(bad)); return 'responded'; }
    if (!v.needsBody) return 'continue';
    if (!ctx.hasBody) { ctx.fail(invalidRequest([{ in: 'body', pointer: '/', message: 'a JSON body is required' }])); return 'responded'; }
    if (!isJson(ctx.header('content-type'))) { ctx.fail(new GatewayError('unsupported_media_type', 'the body must be JSON (application/json)')); return 'responded'; }
    return ctx.readWholeAsync().then((whole) => {
      if (!whole) return 'responded'; // 413, or the client left
      let value: unknown;
      try { value = JSON.parse(whole.toString('utf8')); } catch (e) {
        ctx.fail(invalidRequest([{ in: 'body', pointer: '/', message: `malformed JSON: ${(e as Error).message}` }]));
        return 'responded';
      }
      const problems = v.checkBody(value);
      if (problems.length) { ctx.fail(invalidRequest(problems)); return 'responded'; }
      return 'continue';
    });
  }
}

export const validatePolicy: PolicyFactory = {
  id: 'validate',
  summary: 'Validates the query, headers and JSON body against JSON Schemas (400 with every violation, 415 for non-JSON).',
  routeSchema: {
    validate: {
      type: 'object',
      additionalProperties: false,
      description: 'JSON Schemas for the body (JSON), query and headers; { $ref: file } loads one relative to the config file.',
      properties: {
        body: { type: 'object', description: 'Schema of the parsed JSON body (the body is then required).' },
        query: { type: 'object', description: 'Schema of the query parameters (values coerced from strings; repeated keys are arrays).' },
        headers: { type: 'object', description: 'Schema of the headers (names lower-case).' },
      },
    },
  },
  /** `{ $ref: "schemas/user.json" }` → that file's schema (relative to the config file). */
  resolve(config, { problems, files }: CheckEnv) {
    config.routes.forEach((r, i) => {
      for (const part of PARTS) {
        const schema = r.validate?.[part];
        if (!schema) continue;
        const at = `routes[${i}].validate.${part}`;
        const ref = fileRefOf(schema);
        if (ref === undefined) continue;
        const file = files.read(ref, `${at}.$ref`, problems);
        if (!file) continue;
        try {
          r.validate![part] = JSON.parse(file.text) as Record<string, unknown>;
        } catch (e) {
          problems.push(`${at}.$ref: cannot load "${ref}": ${(e as Error).message}`);
        }
      }
    });
  },
  check(config, { problems }: CheckEnv) {
    config.routes.forEach((r, i) => {
      for (const part of PARTS) {
        const schema = r.validate?.[part];
        if (!schema) continue;
        if (fileRefOf(schema) !== undefined) continue; // its file could not be read (reported)
        try { compileUserSchema(schema, part !== 'body'); } catch (e) {
          problems.push(`routes[${i}].validate.${part}: invalid JSON Schema: ${(e as Error).message}`);
        }
      }
    });
  },
  compile: (route) => (route.validate ? new ValidateRoute(new RequestValidator(route.validate)) : null),
};
