// A transcoding route as the front thread sees it: the HTTP bindings of its services
// (most specific template first) and the matching that gives 404/405 like any route.
// Matching is string work only; JSON and protobuf stay in the pool's workers.
import type protobuf from 'protobufjs';
import type { RouteConfig } from '../config/types.js';
import { bindingsOf, type HttpBinding } from './proto-registry.js';
import { matchTemplate, splitPath } from './path-template.js';
import type { GrpcRetry, TaskBinding } from './task.js';
import { GRPC_CODE_NAMES } from './grpc-status.js';

export type TranscodeMatch =
  | { kind: 'ok'; binding: HttpBinding; task: TaskBinding; vars: Array<[string, string]> }
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'not-found' };

/** What a worker needs of a binding to run its calls. */
export function taskBindingOf(b: HttpBinding): TaskBinding {
  return { grpcPath: b.grpcPath, httpMethod: b.httpMethod, template: b.template.source, requestType: b.requestType, responseType: b.responseType, body: b.body, responseBody: b.responseBody, idempotent: b.idempotent };
}

/** Metadata forwarded by default (plus the gateway's identity headers). */
export const DEFAULT_METADATA = ['authorization', 'x-request-id', 'traceparent', 'tracestate'];

export class TranscodeRoute {
  readonly upstream: string;
  readonly emitDefaults: boolean;
  readonly useProtoNames: boolean;
  readonly ignoreUnknownQuery: boolean;
  readonly enumsAsInts: boolean;
  readonly metadataHeaders: ReadonlySet<string>;
  /** the route's retry block for its gRPC calls (absent: UNAVAILABLE once, idempotent methods) */
  readonly retry: GrpcRetry | undefined;
  private readonly bindings: Array<{ b: HttpBinding; task: TaskBinding }>;
  /** transcode.grpcWeb: every method of the services by its gRPC path (null: off) */
  readonly grpcWebMethods: ReadonlyMap<string, { task: TaskBinding; serverStreaming: boolean; clientStreaming: boolean }> | null;

  /** `rootOf`: the table's parsed protos per upstream (parsed once, shared by its routes) */
  constructor(route: RouteConfig, rootOf: (upstream: string) => protobuf.Root, identityHeaders: string[]) {
    const t = route.transcode!;
    this.upstream = t.upstream;
    this.emitDefaults = t.emitDefaults;
    this.useProtoNames = t.useProtoNames;
    this.ignoreUnknownQuery = t.ignoreUnknownQuery;
    this.enumsAsInts = t.enumsAsInts;
    const r = route.retry;
    this.retry = r ? { attempts: r.attempts, codes: (r.grpcCodes ?? ['UNAVAILABLE']).map((n) => GRPC_CODE_NAMES.indexOf(n)), allMethods: r.grpcCodes !== undefined, backoffMs: r.backoffMs, budgetPercent: r.budgetPercent } : undefined;
    this.metadataHeaders = new Set([...DEFAULT_METADATA, ...identityHeaders, ...t.forwardHeaders.map((h) => h.toLowerCase())]);
    const root = rootOf(t.upstream);
    const list = bindingsOf(root, t.services, t.fallback);
    // Most specific first: more literal segments, then no "**", then a verb.
    list.sort((a, b) => b.template.literals - a.template.literals
      || Number(a.template.segments.includes('**')) - Number(b.template.segments.includes('**'))
      || Number(b.template.verb !== null) - Number(a.template.verb !== null));
    this.bindings = list.map((b) => ({ b, task: taskBindingOf(b) }));
    for (const b of list) if (b.template.verb !== null) this.verbs.add(b.template.verb);
    let web: Map<string, { task: TaskBinding; serverStreaming: boolean; clientStreaming: boolean }> | null = null;
    if (t.grpcWeb) {
      web = new Map();
      // fallback: true lists every method once, annotated or not
      for (const b of bindingsOf(root, t.services, true)) if (!web.has(b.grpcPath)) web.set(b.grpcPath, { task: taskBindingOf(b), serverStreaming: b.serverStreaming, clientStreaming: b.clientStreaming });
    }
    this.grpcWebMethods = web;
  }

  /** custom verbs some binding registers ("archive" of ".../{name}:archive") */
  private readonly verbs = new Set<string>();


  match(method: string, path: string): TranscodeMatch {
    const split = splitPath(path);
    const verbRegistered = split.verb !== null && this.verbs.has(split.verb);
    let allow: string[] | null = null;
    for (const { b, task } of this.bindings) {
      const vars = matchTemplate(b.template, split, verbRegistered);
      if (!vars) continue;
      if (b.httpMethod !== method) { (allow ??= []).includes(b.httpMethod) || allow.push(b.httpMethod); continue; }
      return { kind: 'ok', binding: b, task, vars: [...vars] };
    }
    return allow ? { kind: 'method-not-allowed', allow } : { kind: 'not-found' };
  }
}
