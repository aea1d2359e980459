// A transcoding route as the front thread sees it: the HTTP bindings of its services
// (most specific template first) and the matching that gives 404/405 like any route.
// Matching is string work only; JSON and protobuf stay in the pool's workers.
import type protobuf from 'protobufjs';
import type { RouteConfig } from '../config/types.js';
import { bindingsOf, type HttpBinding } from './proto-registry.js';
import { matchTemplate, splitPath } from './path-template.js';
import type { GrpcRetry, TaskBinding } from './task.js';
import { GRPC_CODE_NAMES } from './grpc-status.js';
import { websocketSettings, type WebSocketSettings } from '../websocket/websocket-settings.js';

/** A method of the services as gRPC-Web and the WebSocket bridge call it. */
export interface MethodOfPath { task: TaskBinding; serverStreaming: boolean; clientStreaming: boolean }

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
  readonly grpcWebMethods: ReadonlyMap<string, MethodOfPath> | null;
  /** transcode.websocket: the bridge's settings (null: off) */
  readonly socket: WebSocketSettings | null;
  /** every method by its gRPC path (grpcWeb or websocket on; else empty) */
  private readonly methods = new Map<string, MethodOfPath>();
  /** the gateway's identity headers: never taken from a client's grpc-websockets header frame */
  readonly identityHeaders: ReadonlySet<string>;

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
    this.socket = t.websocket ? websocketSettings(t.websocket) : null;
    this.identityHeaders = new Set(identityHeaders);
    if (t.grpcWeb || this.socket) {
      // fallback: true lists every method once, annotated or not
      for (const b of bindingsOf(root, t.services, true)) if (!this.methods.has(b.grpcPath)) this.methods.set(b.grpcPath, { task: taskBindingOf(b), serverStreaming: b.serverStreaming, clientStreaming: b.clientStreaming });
    }
    this.grpcWebMethods = t.grpcWeb ? this.methods : null;
  }

  /** custom verbs some binding registers ("archive" of ".../{name}:archive") */
  private readonly verbs = new Set<string>();


  /**
   * A WebSocket's method: by its gRPC path (/package.Service/Method), else the most specific
   * HTTP binding whose template matches the path, whatever its HTTP method (the upgrade is a
   * GET; the first binding declared wins between bindings of one template).
   */
  socketMethod(path: string): { method: MethodOfPath; vars: Array<[string, string]> } | null {
    const byPath = this.methods.get(path);
    if (byPath) return { method: byPath, vars: [] };
    const split = splitPath(path);
    const verbRegistered = split.verb !== null && this.verbs.has(split.verb);
    for (const { b, task } of this.bindings) {
      const vars = matchTemplate(b.template, split, verbRegistered);
      if (vars) return { method: { task, serverStreaming: b.serverStreaming, clientStreaming: b.clientStreaming }, vars: [...vars] };
    }
    return null;
  }

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
