// Parse (YAML or JSON), validate against the schema, then check what a schema cannot
// express (references, patterns). Every problem is reported with its path, all at once.
import { readFileSync, realpathSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, isAbsolute, resolve as resolvePath, sep } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { configSchema } from './schema.js';
import type { GatewayConfig } from './types.js';
import { checkPathPattern } from '../router/path-pattern.js';
import { checkCidr } from '../auth/ip-filter.js';
import { keyFits, keyObjectOf } from '../auth/jwt-keys.js';
import type protobuf from 'protobufjs';
import { bindingsOf, loadProtos, servicesOf } from '../transcode/proto-registry.js';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[], source = 'config') {
    super(`${source} is invalid:\n` + problems.map((p) => `  - ${p}`).join('\n'));
    this.problems = problems;
  }
}

// strictRequired off: a route's if/then requires keys that its own properties define.
const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, strictRequired: false, allowUnionTypes: true, discriminator: true });
const validate = ajv.compile(configSchema);

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
    case 'additionalProperties':
      return `${at}: unknown key "${(e.params as { additionalProperty: string }).additionalProperty}"`;
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
 * Where the files a config names are found: relative to the config's directory. A config
 * that came over the admin API (`confine`) may only name files inside that directory
 * (after following links): it must not read /etc/shadow through tls.caFile or a $ref.
 */
class ConfigFiles {
  private readonly root: string;
  constructor(readonly baseDir: string, readonly confined: boolean) {
    let root = resolvePath(baseDir);
    try { root = realpathSync(root); } catch { /* reported when a file is read */ }
    this.root = root;
  }

  /** The absolute path of `file`, or null (and a problem at `at`) when it is outside the config directory. */
  path(file: string, at: string, problems: string[]): string | null {
    const path = resolvePath(this.baseDir, file);
    if (!this.confined) return path;
    let real = path;
    try { real = realpathSync(path); } catch { /* a missing file is reported by the reader */ }
    if (real !== this.root && !real.startsWith(this.root + sep)) {
      problems.push(`${at}: "${file}" is outside the config directory (a config sent to the admin API may only name files in ${this.root})`);
      return null;
    }
    return path;
  }

  /** Reads a file named in the config; on failure records the problem and returns null. */
  read(file: string, at: string, problems: string[]): { path: string; text: string } | null {
    const path = this.path(file, at, problems);
    if (path === null) return null;
    try { return { path, text: readFileSync(path, 'utf8') }; } catch (e) {
      problems.push(`${at}: cannot read "${file}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return null;
    }
  }
}

/** `{ $ref: "schemas/user.json" }` → that file's schema (relative to the config file). */
function resolveSchemaRefs(cfg: GatewayConfig, files: ConfigFiles, problems: string[]): void {
  cfg.routes.forEach((r, i) => {
    for (const part of ['body', 'query', 'headers'] as const) {
      const schema = r.validate?.[part];
      if (!schema) continue;
      const at = `routes[${i}].validate.${part}`;
      const ref = (schema as { $ref?: unknown }).$ref;
      if (typeof ref === 'string' && !ref.startsWith('#') && Object.keys(schema).length === 1) {
        const file = files.read(ref, `${at}.$ref`, problems);
        if (!file) continue;
        try {
          r.validate![part] = JSON.parse(file.text) as Record<string, unknown>;
        } catch (e) {
          problems.push(`${at}.$ref: cannot load "${ref}": ${(e as Error).message}`);
          continue;
        }
      }
      try {
        schemaChecker.compile(r.validate![part]!);
      } catch (e) {
        problems.push(`${at}: invalid JSON Schema: ${(e as Error).message}`);
      }
    }
  });
}

const schemaChecker = new Ajv({ allErrors: true, strict: false });

/**
 * gRPC upstreams and transcoding routes: protos load, services exist, templates parse; a
 * transcoding route gets its upstream and a catch-all match when it has none.
 */
function grpcProblems(cfg: GatewayConfig, files: ConfigFiles, problems: string[]): void {
  const baseDir = files.baseDir;
  const roots = new Map<string, protobuf.Root | null>();
  for (const [name, up] of Object.entries(cfg.upstreams)) {
    if (up.protocol !== 'grpc') {
      if (up.protos) problems.push(`upstreams.${name}.protos: only used with protocol: grpc`);
      continue;
    }
    if (!up.protos) { problems.push(`upstreams.${name}: protocol grpc needs protos`); continue; }
    if (up.targets.some((t) => t.srv !== undefined)) problems.push(`upstreams.${name}.targets: grpc upstreams take url targets only`);
    const dirs = [...up.protos.includeDirs, '.'].map((d, i) => files.path(d, `upstreams.${name}.protos.includeDirs[${i}]`, problems));
    const badFile = up.protos.files.findIndex((f) => isAbsolute(f) || f.split(/[\\/]/).includes('..'));
    if (dirs.includes(null)) continue;
    if (badFile >= 0 && files.confined) { problems.push(`upstreams.${name}.protos.files[${badFile}]: must be a path inside the include directories (no "..", not absolute)`); continue; }
    up.protos.includeDirs = dirs as string[];
    try {
      roots.set(name, loadProtos(up.protos, baseDir));
    } catch (e) {
      problems.push(`upstreams.${name}.protos: ${(e as Error).message.split('\n')[0]}`);
      roots.set(name, null);
    }
  }
  cfg.routes.forEach((r, i) => {
    const at = `routes[${i}]`;
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
    if (!root) return;
    const known = servicesOf(root).map((s) => s.fullName.slice(1));
    (t.services ?? []).forEach((s, j) => { if (!known.includes(s)) problems.push(`${at}.transcode.services[${j}]: no service "${s}" in the protos of "${t.upstream}"`); });
    try {
      if (bindingsOf(root, t.services, t.fallback).length === 0) problems.push(`${at}.transcode: the services have no google.api.http bindings (set fallback: true to expose POST /package.Service/Method)`);
    } catch (e) {
      problems.push(`${at}.transcode: ${(e as Error).message}`);
    }
  });
}

/** Listener certificates: files exist, parse, and each key belongs to its certificate. Upstream CA files load. */
function tlsProblems(cfg: GatewayConfig, files: ConfigFiles, problems: string[]): void {
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

/** JWT authenticators: a key source, keys that parse, a key for every algorithm allowed. */
function jwtProblems(cfg: GatewayConfig, files: ConfigFiles, problems: string[]): void {
  for (const [name, a] of Object.entries(cfg.auth)) {
    if (a.type !== 'jwt') continue;
    const at = `auth.${name}`;
    if (!a.jwksUrl && !a.keys?.length) problems.push(`${at}: give keys or jwksUrl`);
    const parsed: KeyObject[] = [];
    (a.keys ?? []).forEach((k, i) => {
      const sources = (['secret', 'publicKey', 'publicKeyFile', 'jwk'] as const).filter((f) => k[f] !== undefined);
      if (sources.length !== 1) { problems.push(`${at}.keys[${i}]: give exactly one of secret, publicKey, publicKeyFile, jwk`); return; }
      if (k.publicKeyFile !== undefined) {
        const file = files.read(k.publicKeyFile, `${at}.keys[${i}].publicKeyFile`, problems);
        if (!file) return;
        k.publicKey = file.text;
        delete k.publicKeyFile;
      }
      try { parsed.push(keyObjectOf(k)); } catch (e) {
        problems.push(`${at}.keys[${i}]: not a usable key: ${(e as Error).message.split('\n')[0]}`);
      }
    });
    a.algorithms.forEach((alg, i) => {
      if (parsed.some((k) => keyFits(alg, k))) return;
      if (alg.startsWith('HS')) problems.push(`${at}.algorithms[${i}]: ${alg} needs a secret in ${at}.keys`);
      else if (!a.jwksUrl && a.keys?.length && a.keys.length === parsed.length) problems.push(`${at}.algorithms[${i}]: no key in ${at}.keys can verify ${alg}`);
    });
  }
}

/** The admin listener: a token off the loopback (tokenFile read into token). */
function adminProblems(cfg: GatewayConfig, files: ConfigFiles, problems: string[]): void {
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

/** Runs one check; a check that trips over a shape the schema already refused is skipped. */
function guardedCheck(fn: () => void): void {
  try { fn(); } catch { /* the schema problems say what is wrong with this part */ }
}

function semanticProblems(cfg: GatewayConfig, files: ConfigFiles): string[] {
  const problems: string[] = [];
  cfg.upstreams ??= {};
  cfg.routes = Array.isArray(cfg.routes) ? cfg.routes : [];
  guardedCheck(() => resolveSchemaRefs(cfg, files, problems));
  guardedCheck(() => jwtProblems(cfg, files, problems));
  guardedCheck(() => tlsProblems(cfg, files, problems));
  guardedCheck(() => adminProblems(cfg, files, problems));
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
  const cidrProblems = (at: string, list: string[] | undefined) =>
    (list ?? []).forEach((c, i) => { const why = checkCidr(c); if (why) problems.push(`${at}[${i}]: ${why}`); });
  guardedCheck(() => {
    cidrProblems('ipFilter.allow', cfg.ipFilter?.allow);
    cidrProblems('ipFilter.deny', cfg.ipFilter?.deny);
    cidrProblems('trustedProxies', cfg.trustedProxies);
  });
  cfg.routes.forEach((r, i) => guardedCheck(() => { cidrProblems(`routes[${i}].ipFilter.allow`, r.ipFilter?.allow); cidrProblems(`routes[${i}].ipFilter.deny`, r.ipFilter?.deny); }));
  const consumerIds = new Set<string>();
  const keyOwners = new Map<string, string>();
  (cfg.consumers ?? []).forEach((c, i) => guardedCheck(() => {
    if (consumerIds.has(c.id)) problems.push(`consumers[${i}].id: duplicate consumer "${c.id}"`);
    if (c.plan !== undefined && !(c.plan in cfg.plans)) problems.push(`consumers[${i}].plan: unknown plan "${c.plan}" (define it under plans)`);
    consumerIds.add(c.id);
    c.keys.forEach((k, j) => {
      const digest = 'key' in k ? createHash('sha256').update(k.key).digest('hex') : k.sha256.toLowerCase();
      const owner = keyOwners.get(digest);
      if (owner !== undefined) problems.push(`consumers[${i}].keys[${j}]: the same key is already given to "${owner}"`);
      else keyOwners.set(digest, c.id);
    });
  }));
  guardedCheck(() => grpcProblems(cfg, files, problems));
  const names = new Map<string, number>();
  cfg.routes.forEach((r, i) => guardedCheck(() => {
    const at = `routes[${i}]`;
    if (r.upstream !== undefined && !(r.upstream in cfg.upstreams)) problems.push(`${at}.upstream: unknown upstream "${r.upstream}"`);
    (r.auth ?? []).forEach((a, j) => { if (!(a in cfg.auth)) problems.push(`${at}.auth[${j}]: unknown authenticator "${a}"`); });
    if (r.allow && !r.auth) problems.push(`${at}.allow: needs auth on the route`);
    (r.allow?.consumers ?? []).forEach((c, j) => { if (!consumerIds.has(c)) problems.push(`${at}.allow.consumers[${j}]: unknown consumer "${c}"`); });
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
  if (!validate(copy)) {
    const schema = schemaProblems(validate.errors ?? []);
    const semantic = typeof copy === 'object' && copy !== null && !Array.isArray(copy) ? semanticProblems(copy as unknown as GatewayConfig, files) : [];
    // A part the schema refused is not judged again: its problems are already listed.
    const refused = (validate.errors ?? []).map((e) => displayPath(e.instancePath)).filter((p) => p !== '(root)');
    const extra = semantic.filter((m) => !refused.some((p) => m.startsWith(p + '.') || m.startsWith(p + ':') || m.startsWith(p + '[')));
    throw new ConfigError([...schema, ...extra], source);
  }
  const cfg = copy as unknown as GatewayConfig;
  const problems = semanticProblems(cfg, files);
  if (problems.length) throw new ConfigError(problems, source);
  return cfg;
}

/** Parse YAML (a superset of JSON) text into a validated config. */
export function parseConfig(text: string, source = 'config', opts: LoadOptions | string = {}): GatewayConfig {
  if (typeof opts === 'string') opts = { baseDir: opts };
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
