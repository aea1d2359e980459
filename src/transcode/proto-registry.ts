// Loads .proto files with protobufjs (include dirs searched in order; google/protobuf
// well-known types built in) and lists the HTTP bindings of their gRPC methods: every
// google.api.http rule and its additional_bindings.
import protobuf from 'protobufjs';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parseTemplate, type PathTemplate } from './path-template.js';
import { rootFromDescriptorSet } from './descriptor-set.js';

// A static import, not a require: the single-executable build bundles it (no node_modules there).
import descriptorJson from 'protobufjs/google/protobuf/descriptor.json' with { type: 'json' };
import Long from 'long';

// protobufjs finds `long` with an eval'd require, which a bundle cannot see: int64 fields
// would silently decode as lossy numbers in the single executable. Given here, once.
protobuf.util.Long = Long;
protobuf.configure();

// descriptor.proto (imported by google/api/annotations.proto) as a built-in, as proto-loader does.
protobuf.common('descriptor', (descriptorJson as unknown as { nested: { google: { nested: { protobuf: { nested: protobuf.INamespace['nested'] } } } } }).nested.google.nested.protobuf.nested as never);

/**
 * Where a gRPC upstream's descriptors come from: .proto files, a FileDescriptorSet file, or
 * the upstream's server reflection (fetched before the config is applied: `descriptors`).
 */
export interface ProtoSource {
  files: string[];
  includeDirs: string[];
  descriptorSet?: string;
  reflection?: boolean;
  /** base64 FileDescriptorSet read by reflection (src/transcode/reflection-client.ts) */
  descriptors?: string;
}

/** The descriptors can be loaded now (reflection's have been fetched). */
export function protosReady(src: ProtoSource): boolean {
  return !src.reflection || src.descriptors !== undefined;
}

export function loadProtos(src: ProtoSource, baseDir: string): protobuf.Root {
  if (src.descriptorSet !== undefined) return rootFromDescriptorSet(readFileSync(resolve(baseDir, src.descriptorSet)));
  if (src.reflection) {
    if (src.descriptors === undefined) throw new Error('the descriptors have not been read from the upstream yet');
    return rootFromDescriptorSet(Buffer.from(src.descriptors, 'base64'));
  }
  const dirs = src.includeDirs.map((d) => resolve(baseDir, d));
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    if (target.startsWith('google/protobuf/') && target in protobuf.common) return target;
    if (isAbsolute(target)) return target;
    for (const d of dirs) { const p = join(d, target); if (existsSync(p)) return p; }
    const rel = protobuf.util.path.resolve(origin, target);
    if (existsSync(rel)) return rel;
    throw new Error(`cannot find "${target}" in ${dirs.join(', ') || 'the include dirs'}`);
  };
  root.loadSync(src.files, { keepCase: true });
  root.resolveAll();
  return root;
}

/** Parsed roots by source, kept while none of the files they read changed (a reload with
 * the same protos parses nothing; an edited import is parsed again). */
const parsed = new Map<string, { root: protobuf.Root; stamps: Array<[string, number]> }>();

function stampOf(file: string): number {
  try { const s = statSync(file); return s.mtimeMs * 1e3 + s.size; } catch { return -1; }
}

/** loadProtos, once per thread for the same unchanged files. */
export function loadProtosCached(src: ProtoSource, baseDir: string): protobuf.Root {
  const reflected = src.descriptors === undefined ? null : createHash('sha256').update(src.descriptors).digest('base64');
  const key = JSON.stringify([src.files, src.includeDirs, baseDir, src.descriptorSet ?? null, reflected]);
  const hit = parsed.get(key);
  if (hit && hit.stamps.every(([f, st]) => stampOf(f) === st)) return hit.root;
  const root = loadProtos(src, baseDir);
  const files = src.descriptorSet !== undefined ? [resolve(baseDir, src.descriptorSet)] : root.files.filter((f) => !(f in protobuf.common));
  if (parsed.size >= 16) parsed.delete(parsed.keys().next().value!);
  parsed.set(key, { root, stamps: files.map((f) => [f, stampOf(f)]) });
  return root;
}

export interface HttpBinding {
  /** "demo.catalog.v1.Catalog" */
  service: string;
  method: string;
  /** "/demo.catalog.v1.Catalog/GetBook": the gRPC path */
  grpcPath: string;
  httpMethod: string;
  template: PathTemplate;
  /** "" (no body), "*" or a field path */
  body: string;
  responseBody: string;
  requestType: string;
  responseType: string;
  serverStreaming: boolean;
  clientStreaming: boolean;
  /** retried on UNAVAILABLE by default: an idempotent HTTP verb, or the method's idempotency_level */
  idempotent: boolean;
}

const IDEMPOTENT_VERBS = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);

/** The method declares `option idempotency_level = IDEMPOTENT` (or NO_SIDE_EFFECTS). */
export function declaresIdempotent(m: protobuf.Method): boolean {
  const level = (m.options as Record<string, unknown> | undefined)?.idempotency_level;
  return level === 'IDEMPOTENT' || level === 'NO_SIDE_EFFECTS';
}

interface RawRule { get?: string; put?: string; post?: string; delete?: string; patch?: string; custom?: { kind: string; path: string }; body?: string; response_body?: string; additional_bindings?: RawRule | RawRule[] }

function rulesOf(m: protobuf.Method): RawRule[] {
  const opt = ((m.parsedOptions ?? []) as Array<Record<string, unknown>>).find((o) => '(google.api.http)' in o)?.['(google.api.http)'] as RawRule | undefined;
  if (!opt) return [];
  const extra = opt.additional_bindings === undefined ? [] : Array.isArray(opt.additional_bindings) ? opt.additional_bindings : [opt.additional_bindings];
  return [opt, ...extra];
}

export function servicesOf(root: protobuf.Root): protobuf.Service[] {
  const out: protobuf.Service[] = [];
  const walk = (ns: protobuf.NamespaceBase) => {
    for (const n of ns.nestedArray) {
      if (n instanceof protobuf.Service) out.push(n);
      else if (n instanceof protobuf.Namespace || n instanceof protobuf.Type) walk(n);
    }
  };
  walk(root);
  return out;
}

/**
 * Bindings of the listed services (all services with annotated methods when `only` is
 * empty). `fallback`: unannotated methods get POST /pkg.Service/Method with body "*".
 */
export function bindingsOf(root: protobuf.Root, only: string[] | undefined, fallback: boolean): HttpBinding[] {
  const out: HttpBinding[] = [];
  for (const svc of servicesOf(root)) {
    const name = svc.fullName.slice(1);
    if (only?.length && !only.includes(name)) continue;
    for (const m of svc.methodsArray) {
      m.resolve();
      const base = {
        service: name, method: m.name, grpcPath: `/${name}/${m.name}`,
        requestType: m.resolvedRequestType!.fullName.slice(1), responseType: m.resolvedResponseType!.fullName.slice(1),
        serverStreaming: !!m.responseStream, clientStreaming: !!m.requestStream,
      };
      const declared = declaresIdempotent(m);
      const rules = rulesOf(m);
      for (const r of rules) {
        const verb = (['get', 'put', 'post', 'delete', 'patch'] as const).find((k) => r[k] !== undefined);
        const httpMethod = verb ? verb.toUpperCase() : r.custom?.kind.toUpperCase();
        const path = verb ? r[verb]! : r.custom?.path;
        if (!httpMethod || !path) continue;
        out.push({ ...base, httpMethod, template: parseTemplate(path), body: r.body ?? '', responseBody: r.response_body ?? '', idempotent: declared || IDEMPOTENT_VERBS.has(httpMethod) });
      }
      if (!rules.length && fallback) out.push({ ...base, httpMethod: 'POST', template: parseTemplate(base.grpcPath), body: '*', responseBody: '', idempotent: declared });
    }
  }
  return out;
}
