// Loading a config, in separate steps: parse (YAML or JSON) → check its shape against the
// assembled schema → normalise (schema defaults) → resolve (read the files it names, fold
// shorthands) → check what a schema cannot express (references, CIDRs, patterns). Every
// problem of every step is reported with its path, all at once. Compiling the result into
// route tables is the RouteTable's job (src/gateway/route-table.ts).
import { HISTOGRAMS } from '../observability/metrics/families.js';
import { TEMPLATE_FIELDS } from '../observability/access-log/access-log.js';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { CST, Lexer, parse as parseYaml, YAMLParseError } from 'yaml';
import { assembleSchema } from './schema.js';
import type { GatewayConfig, RouteConfig } from './types.js';
import { ConfigFiles } from './config-files.js';
import { checkPathPattern } from '../router/path-pattern.js';
import { checkCidr } from '../proxy/client-address.js';
import type protobuf from 'protobufjs';
import { bindingsOf, loadProtosCached, servicesOf } from '../transcode/proto-registry.js';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { onPoliciesChanged, policies } from '../policies/registry.js';
import type { CheckEnv } from '../pipeline/policy.js';
import { checkAggregateRoute, resolveAggregateRoute } from '../aggregate/aggregate-check.js';
import { resolveWebSocketTargets } from '../websocket/websocket-resolve.js';

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[], source = 'config') {
    super(`${source} is invalid:\n` + problems.map((p) => `  - ${p}`).join('\n'));
    this.problems = problems;
  }
}

// strictRequired off: a route's if/then requires keys that its own properties define.
const AJV_OPTIONS = { allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true, discriminator: true } as const;

let compiled: { shape: ValidateFunction; defaults: ValidateFunction } | null = null;
onPoliciesChanged(() => { compiled = null; });

/** The assembled schema, compiled twice: to check a config's shape, and to fill in its defaults. */
function schemaChecks(): { shape: ValidateFunction; defaults: ValidateFunction } {
  if (!compiled) {
    const schema = assembleSchema(policies());
    compiled = { shape: new Ajv(AJV_OPTIONS).compile(schema), defaults: new Ajv({ ...AJV_OPTIONS, useDefaults: true }).compile(schema) };
  }
  return compiled;
}

/** The schema of this gateway's configs (core keys and every registered policy's). */
export function configSchema(): Record<string, unknown> {
  return assembleSchema(policies());
}

/** Top-level keys that have a new name (the old one is an error that says so). */
const RENAMED: Record<string, string> = { workers: 'threads' };

/** `/routes/3/match` → `routes[3].match` */
function displayPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else out += (out ? '.' : '') + part;
  }
  return out || '(root)';
}

function describe(e: ErrorObject): string | undefined {
  const at = displayPath(e.instancePath);
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const renamed = at === '(root)' ? RENAMED[key] : undefined;
      return renamed ? `${key}: renamed to "${renamed}"` : `${at}: unknown key "${key}"`;
    }
    case 'required':
      return `${at}: missing required key "${(e.params as { missingProperty: string }).missingProperty}"`;
    case 'enum':
      return `${at}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'oneOf':
    case 'if':
    case 'discriminator':
      return undefined; // the branch errors say what is wrong
    default:
      return `${at}: ${e.message ?? 'is invalid'}`;
  }
}

function schemaProblems(errors: ErrorObject[]): string[] {
  const seen = new Set<string>();
  let list = errors.map(describe).filter((m): m is string => !!m);
  if (list.length === 0) list = errors.map((e) => `${displayPath(e.instancePath)}: ${e.message ?? 'is invalid'}`);
  return list.filter((m) => (seen.has(m) ? false : (seen.add(m), true)));
}

/**
 * gRPC upstreams and transcoding routes: protos load, services exist, templates parse; a
 * transcoding route gets its upstream and a catch-all match when it has none.
 */
function resolveGrpc(cfg: GatewayConfig, files: ConfigFiles, problems: string[]): void {
  const baseDir = files.baseDir;
  const roots = new Map<string, protobuf.Root | null>();
  for (const [name, up] of Object.entries(cfg.upstreams)) {
    if (up.healthCheck && (up.protocol === 'grpc') === (up.healthCheck.path !== undefined)) {
      problems.push(up.protocol === 'grpc' ? `upstreams.${name}.healthCheck.path: grpc upstreams are checked with grpc.health.v1 (give service, not path)` : `upstreams.${name}.healthCheck.path: required (the path to GET)`);
    }
    if (up.protocol !== 'grpc') {
      if (up.healthCheck?.service !== undefined) problems.push(`upstreams.${name}.healthCheck.service: only for grpc upstreams`);
      if (up.protos) problems.push(`upstreams.${name}.protos: only used with protocol: grpc`);
      if (up.compression) problems.push(`upstreams.${name}.compression: only used with protocol: grpc`);
      if (up.http2) problems.push(`upstreams.${name}.http2: only used with protocol: grpc`);
      continue;
    }
    if (!up.protos) { problems.push(`upstreams.${name}: protocol grpc needs protos`); continue; }
    if (up.targets.some((t) => t.srv !== undefined)) problems.push(`upstreams.${name}.targets: grpc upstreams take url targets only`);
    const p = up.protos;
    const sources = [p.files.length > 0, p.descriptorSet !== undefined, p.reflection === true].filter(Boolean).length;
    if (sources !== 1) { problems.push(`upstreams.${name}.protos: give one of files, descriptorSet or reflection: true`); continue; }
    if (p.reflection) continue; // read from the upstream before the config is applied (reflection-client.ts)
    if (p.descriptorSet !== undefined) {
      const file = files.path(p.descriptorSet, `upstreams.${name}.protos.descriptorSet`, problems);
      if (file === null) continue;
      p.descriptorSet = file;
      try { roots.set(name, loadProtosCached(p, '.')); } catch (e) {
        problems.push(`upstreams.${name}.protos.descriptorSet: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? `cannot read "${file}"` : (e as Error).message.split('\n')[0]}`);
        roots.set(name, null);
      }
      continue;
    }
    const dirs = [...up.protos.includeDirs, '.'].map((d, i) => files.path(d, `upstreams.${name}.protos.includeDirs[${i}]`, problems));
    const badFile = up.protos.files.findIndex((f) => isAbsolute(f) || f.split(/[\\/]/).includes('..'));
    if (dirs.includes(null)) continue;
    if (badFile >= 0 && files.confined) { problems.push(`upstreams.${name}.protos.files[${badFile}]: must be a path inside the include directories (no "..", not absolute)`); continue; }
    up.protos.includeDirs = dirs as string[];
    try {
      roots.set(name, loadProtosCached(up.protos, '.')); // include dirs are absolute by now
    } catch (e) {
      problems.push(`upstreams.${name}.protos: ${(e as Error).message.split('\n')[0]}`);
      roots.set(name, null);
    }
  }
  cfg.routes.forEach((r, i) => {
    const at = `routes[${i}]`;
    if (r.retry?.grpcCodes && !r.transcode) problems.push(`${at}.retry.grpcCodes: only for transcoding routes`);
    if (r.aggregate) { resolveAggregateRoute(r, at, problems); return; }
    if (!r.transcode) {
      if (cfg.upstreams[r.upstream]?.protocol === 'grpc') problems.push(`${at}.upstream: "${r.upstream}" is a grpc upstream: use transcode`);
      return;
    }
    const t = r.transcode;
    if (r.upstream !== undefined) problems.push(`${at}: give either upstream or transcode, not both`);
    r.upstream = t.upstream;
    r.match ??= { prefix: '/' };
    const up = cfg.upstreams[t.upstream];
    if (!up) return; // "unknown upstream" is reported with the route checks
    if (up.protocol !== 'grpc') { problems.push(`${at}.transcode.upstream: "${t.upstream}" is not a grpc upstream`); return; }
    const root = roots.get(t.upstream);
    if (root) checkTranscodeServices(r, at, root, problems);
  });
}

/** A transcoding route's services exist in its upstream's descriptors and expose bindings. */
export function checkTranscodeServices(r: RouteConfig, at: string, root: protobuf.Root, problems: string[]): void {
  const t = r.transcode!;
  const known = servicesOf(root).map((s) => s.fullName.slice(1));
  (t.services ?? []).forEach((s, j) => { if (!known.includes(s)) problems.push(`${at}.transcode.services[${j}]: no service "${s}" in the protos of "${t.upstream}"`); });
  try {
    if (bindingsOf(root, t.services, t.fallback).length === 0) problems.push(`${at}.transcode: the services have no google.api.http bindings (set fallback: true to expose POST /package.Service/Method)`);
  } catch (e) {
    problems.push(`${at}.transcode: ${(e as Error).message}`);
  }
}

/** Listener certificates: files exist, parse, and each key belongs to its certificate (folded into certs). Upstream CA files load. */
function resolveTls(cfg: GatewayConfig, files: ConfigFiles, problems: string[]): void {
  const tls = cfg.listen.tls;
  if (tls) {
    const single = tls.cert !== undefined || tls.key !== undefined;
    if (single && tls.certs) problems.push('listen.tls: give cert and key, or certs, not both');
    else if (single && (tls.cert === undefined || tls.key === undefined)) problems.push('listen.tls: cert and key go together');
    else if (!single && !tls.certs) problems.push('listen.tls: give cert and key, or certs');
    else {
      if (single) tls.certs = [{ cert: tls.cert!, key: tls.key!, passphrase: tls.passphrase, serverNames: [] }];
      const at = single ? () => 'listen.tls' : (i: number) => `listen.tls.certs[${i}]`;
      tls.certs.forEach((c, i) => {
        const cert = files.read(c.cert, `${at(i)}.cert`, problems);
        const key = files.read(c.key, `${at(i)}.key`, problems);
        if (!cert || !key) return;
        c.cert = cert.path;
        c.key = key.path;
        try {
          const x509 = new X509Certificate(cert.text);
          const pk = createPrivateKey({ key: key.text, passphrase: c.passphrase });
          if (!x509.checkPrivateKey(pk)) problems.push(`${at(i)}.key: does not belong to the certificate in ${at(i)}.cert`);
        } catch (e) {
          problems.push(`${at(i)}: not a usable certificate and key: ${(e as Error).message.split('\n')[0]}`);
        }
      });
      delete tls.cert;
      delete tls.key;
      delete tls.passphrase;
    }
  }
  if (cfg.listen.redirectHttp && !tls) problems.push('listen.redirectHttp: needs listen.tls (it redirects to https)');
  if (tls?.minVersion === 'TLSv1.3' && cfg.engine === 'uws') problems.push('listen.tls.minVersion: TLSv1.3 needs engine: node (the uws build cannot turn TLS 1.2 off)');
  for (const [name, up] of Object.entries(cfg.upstreams)) {
    if (!up.tls) continue;
    if (up.targets.some((t) => t.url !== undefined && !t.url.startsWith('https:') && !t.url.startsWith('grpcs:'))) problems.push(`upstreams.${name}.tls: only used with https or grpcs targets`);
    if (up.tls.caFile !== undefined) {
      const ca = files.read(up.tls.caFile, `upstreams.${name}.tls.caFile`, problems);
      if (ca) up.tls.ca = ca.text;
    }
  }
}

/** The admin listener: a token off the loopback (tokenFile read into token). */
function resolveAdmin(cfg: GatewayConfig, files: ConfigFiles, problems: string[]): void {
  const a = cfg.admin;
  if (a.token !== undefined && a.tokenFile !== undefined) problems.push('admin: give token or tokenFile, not both');
  if (a.tokenFile !== undefined) {
    const file = files.read(a.tokenFile, 'admin.tokenFile', problems);
    if (file) {
      const token = file.text.trim();
      if (token.length < 16) problems.push('admin.tokenFile: the token must be at least 16 characters');
      else a.token = token;
    }
    delete a.tokenFile;
  }
  if (a.enabled && a.token === undefined && a.tokenFile === undefined && !isLoopback(a.host)) {
    problems.push(`admin.host: "${a.host}" is not a loopback address: set admin.token (or admin.tokenFile), or listen on 127.0.0.1`);
  }
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The access log's file, relative to the config file; bucket lists ascending and named after histograms. */
function resolveObservability(cfg: GatewayConfig, files: ConfigFiles, problems: string[]): void {
  const o = cfg.observability;
  if (o.accessLog.path !== undefined) o.accessLog.path = files.path(o.accessLog.path, 'observability.accessLog.path', problems) ?? o.accessLog.path;
  const ascending = (b: number[], at: string) => { if (b.some((v, i) => i > 0 && v <= b[i - 1]!)) problems.push(`${at}: bucket bounds must be ascending`); };
  ascending(o.metrics.buckets, 'observability.metrics.buckets');
  for (const m of o.accessLog.template.matchAll(/\{([a-z_]+)\}/g)) {
    if (!(TEMPLATE_FIELDS as readonly string[]).includes(m[1]!)) problems.push(`observability.accessLog.template: no field "${m[1]}" (${TEMPLATE_FIELDS.join(', ')})`);
  }
  for (const [name, b] of Object.entries(o.metrics.histogramBuckets)) {
    if (!HISTOGRAMS.includes(name)) problems.push(`observability.metrics.histogramBuckets.${name}: not a histogram (${HISTOGRAMS.join(', ')})`);
    ascending(b, `observability.metrics.histogramBuckets.${name}`);
  }
}

/** Runs one check; a check that trips over a shape the schema already refused is skipped. */
function guardedCheck(fn: () => void): void {
  try { fn(); } catch { /* the schema problems say what is wrong with this part */ }
}

/** Reads what the config names and folds shorthands: the core's parts, then each policy's. */
function resolveConfig(cfg: GatewayConfig, env: CheckEnv): void {
  guardedCheck(() => resolveWebSocketTargets(cfg)); // first: ws:// targets are http:// ones to the rest
  guardedCheck(() => resolveTls(cfg, env.files, env.problems));
  guardedCheck(() => resolveAdmin(cfg, env.files, env.problems));
  guardedCheck(() => resolveGrpc(cfg, env.files, env.problems));
  guardedCheck(() => resolveObservability(cfg, env.files, env.problems));
  for (const p of policies()) if (p.resolve) guardedCheck(() => p.resolve!(cfg, env));
}

/** What the schema cannot say about the core's parts (upstreams, routes); reports only. */
function checkCore(cfg: GatewayConfig, problems: string[]): void {
  for (const [name, up] of Object.entries(cfg.upstreams)) guardedCheck(() => {
    if (up.hashOn !== undefined && up.balance !== 'consistent-hash') problems.push(`upstreams.${name}.hashOn: only used with balance: consistent-hash`);
    up.targets.forEach((t, i) => {
      if ((t.url === undefined) === (t.srv === undefined)) {
        problems.push(`upstreams.${name}.targets[${i}]: give either url or srv`);
        return;
      }
      if (t.srv !== undefined) {
        if (!up.dns) problems.push(`upstreams.${name}.targets[${i}].srv: SRV targets need upstreams.${name}.dns`);
        return;
      }
      let url: URL | undefined;
      try { url = new URL(t.url!); } catch { /* reported below */ }
      if (up.protocol === 'grpc') {
        if (!url || (url.protocol !== 'grpc:' && url.protocol !== 'grpcs:') || !url.port || (url.pathname !== '' && url.pathname !== '/')) problems.push(`upstreams.${name}.targets[${i}].url: "${t.url}" is not a grpc://host:port (or grpcs://) URL`);
      } else if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
        problems.push(`upstreams.${name}.targets[${i}].url: "${t.url}" is not an http(s) URL`);
      } else if (url.pathname !== '/' || url.search) {
        problems.push(`upstreams.${name}.targets[${i}].url: must be an origin without a path ("${url.origin}")`);
      }
    });
  });
  guardedCheck(() => (cfg.trustedProxies ?? []).forEach((c, i) => { const why = checkCidr(c); if (why) problems.push(`trustedProxies[${i}]: ${why}`); }));
  const names = new Map<string, number>();
  cfg.routes.forEach((r, i) => guardedCheck(() => {
    const at = `routes[${i}]`;
    if (r.upstream !== undefined && !(r.upstream in cfg.upstreams)) problems.push(`${at}.upstream: unknown upstream "${r.upstream}"`);
    if (r.aggregate) checkAggregateRoute(r, at, cfg, problems);
    if (r.websocket) {
      if (r.transcode || r.aggregate) problems.push(`${at}.websocket: a WebSocket route proxies to an upstream; it cannot also transcode or aggregate`);
      else if (r.upstream !== undefined && cfg.upstreams[r.upstream]?.protocol === 'grpc') problems.push(`${at}.websocket: upstream "${r.upstream}" is a gRPC upstream; a WebSocket route needs http(s) targets`);
    }
    if (r.name !== undefined) {
      if (names.has(r.name)) problems.push(`${at}.name: duplicate route name "${r.name}" (also routes[${names.get(r.name)}])`);
      else names.set(r.name, i);
    }
    if (r.match.path !== undefined && r.match.prefix !== undefined) problems.push(`${at}.match: give either path or prefix, not both`);
    if (r.match.path !== undefined) {
      const why = checkPathPattern(r.match.path);
      if (why) problems.push(`${at}.match.path: ${why}`);
    }
    if (r.timeoutMs !== undefined && r.timeouts?.totalMs !== undefined) problems.push(`${at}: give either timeoutMs or timeouts.totalMs, not both`);
    if (r.stripPrefix !== undefined && r.rewrite !== undefined) problems.push(`${at}: give either stripPrefix or rewrite, not both`);
    for (const kind of ['headers', 'query'] as const) {
      for (const [key, m] of Object.entries(r.match[kind] ?? {})) {
        if (typeof m === 'object' && 'regex' in m) {
          try { new RegExp(m.regex); } catch (e) { problems.push(`${at}.match.${kind}.${key}.regex: ${(e as Error).message}`); }
        }
      }
    }
    if (r.rewrite !== undefined) {
      const params = new Set((r.match.path ?? '').split('/').filter((s) => s.startsWith(':')).map((s) => s.slice(1)));
      for (const p of r.rewrite.split('/').filter((s) => s.startsWith(':'))) {
        if (!params.has(p.slice(1))) problems.push(`${at}.rewrite: parameter "${p}" is not in match.path`);
      }
    }
  }));
}

/** Resolve, then check (core and policies): every problem found. Edits `cfg` only in resolve. */
function semanticProblems(cfg: GatewayConfig, files: ConfigFiles): string[] {
  const problems: string[] = [];
  cfg.upstreams ??= {};
  cfg.routes = Array.isArray(cfg.routes) ? cfg.routes : [];
  const env: CheckEnv = { problems, files };
  resolveConfig(cfg, env);
  checkCore(cfg, problems);
  for (const p of policies()) if (p.check) guardedCheck(() => p.check!(cfg, env));
  return problems;
}

export interface LoadOptions {
  /** the directory files named in the config are relative to (default: the working directory) */
  baseDir?: string;
  /** only files inside baseDir may be named (configs that arrive over the admin API) */
  confineFiles?: boolean;
}

/**
 * Validate an already-parsed object; throws ConfigError listing every problem: the schema's
 * and, for the parts the schema did accept, the semantic ones (unknown upstreams, files, ...).
 */
export function validateConfig(raw: unknown, source = 'config', opts: LoadOptions = {}): GatewayConfig {
  const copy = structuredClone(raw ?? {});
  const files = new ConfigFiles(opts.baseDir ?? process.cwd(), opts.confineFiles ?? false);
  const { shape, defaults } = schemaChecks();
  const shapeOk = shape(copy);
  const errors = shape.errors ?? [];
  defaults(copy); // normalise: fill in defaults (where the shape allows)
  if (!shapeOk) {
    const schema = schemaProblems(errors);
    const semantic = typeof copy === 'object' && copy !== null && !Array.isArray(copy) ? semanticProblems(copy as unknown as GatewayConfig, files) : [];
    // A part the schema refused is not judged again: its problems are already listed.
    const refused = errors.map((e) => displayPath(e.instancePath)).filter((p) => p !== '(root)');
    const extra = semantic.filter((m) => !refused.some((p) => m.startsWith(p + '.') || m.startsWith(p + ':') || m.startsWith(p + '[')));
    throw new ConfigError([...schema, ...extra], source);
  }
  const cfg = copy as unknown as GatewayConfig;
  const problems = semanticProblems(cfg, files);
  if (problems.length) throw new ConfigError(problems, source);
  return cfg;
}

/**
 * Flow collections (`[...]`, `{...}`) nested deeper than this are refused before the YAML
 * parser sees them: yaml 2.9 aborts the process (V8 out of memory compiling a RegExp, no
 * exception) on two of them ~900 deep, 4 KB of text an admin reload could send. Its lexer
 * is iterative, so it measures the nesting safely; no configuration needs more than a few.
 */
const MAX_FLOW_NESTING = 64;
function flowTooDeep(text: string): boolean {
  let depth = 0;
  for (const token of new Lexer().lex(text)) {
    const type = CST.tokenType(token);
    if (type === 'flow-map-start' || type === 'flow-seq-start') { if (++depth > MAX_FLOW_NESTING) return true; }
    else if (type === 'flow-map-end' || type === 'flow-seq-end') depth--;
  }
  return false;
}

/** Parse YAML (a superset of JSON) text into a validated config. */
export function parseConfig(text: string, source = 'config', opts: LoadOptions | string = {}): GatewayConfig {
  if (typeof opts === 'string') opts = { baseDir: opts };
  if (flowTooDeep(text)) throw new ConfigError([`(syntax): [ ] and { } nested deeper than ${MAX_FLOW_NESTING} levels`], source);
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (e) {
    const msg = e instanceof YAMLParseError ? e.message.split('\n')[0] : String(e);
    throw new ConfigError([`(syntax): ${msg}`], source);
  }
  return validateConfig(raw, source, opts);
}

export function loadConfigFile(file: string): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`(file): cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`], file);
  }
  return parseConfig(text, file, { baseDir: dirname(resolvePath(file)) });
}
