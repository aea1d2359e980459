// What a policy is: a factory that turns its part of the config into a frozen object at
// load (Envoy's FilterConfig, Caddy's Provision), and that object's optional hooks, run
// per request by the runner (src/pipeline/runner.ts). A policy lives in one folder under
// src/policies/<name>/ and is listed once in src/policies/registry.ts (docs/extending.md).
import type { Observer } from '../observability/observer.js';
import type { GatewayConfig, RouteConfig } from '../config/types.js';
import type { GcraTable } from '../ratelimit/gcra-table.js';
import type { QuotaTable } from '../ratelimit/quota-table.js';
import type { RedisLimiter } from '../ratelimit/redis-limiter.js';
import type { ConfigFiles } from '../config/config-files.js';
import type { RequestCtx } from './request-ctx.js';
import type { Transcoder } from '../transcode/transcoder.js';

/** 'continue': the next policy (then the target) runs; 'responded': the hook answered (ctx.fail, ...). */
export type Verdict = 'continue' | 'responded';

/** An upstream response before it goes to the client: hooks may edit status and headers. */
export interface UpstreamHead {
  status: number;
  /** flat [name, value, ...], names lower-cased; edit in place */
  headers: string[];
}

export interface Policy {
  /** the factory's id (logs, lookups by other policies) */
  readonly id: string;
  /** Before the target. Synchronous when it can be; while a promise is pending the runner holds the body. */
  onRequest?(ctx: RequestCtx): Verdict | Promise<Verdict>;
  /** An upstream answered (HTTP proxy and unary transcoding): edit what the client gets. */
  onResponse?(ctx: RequestCtx, res: UpstreamHead): void;
  /** Once, when the exchange is over (answered, failed or aborted). */
  onLog?(ctx: RequestCtx): void;
}

/** Process-wide state a policy may use: made once, kept across reloads. */
export interface SharedTables {
  readonly limiter: GcraTable;
  readonly quotas: QuotaTable;
  /** rateLimit.backend: redis */
  readonly remoteLimiter: RedisLimiter | null;
  /** the process's transcoding pool (this thread's way to it), and its cancel flags */
  readonly transcoder: Transcoder | null;
  readonly cancelFlags: SharedArrayBuffer;
  readonly grpcTargets: SharedArrayBuffer;
  /** this thread's metrics, access log and tracing */
  readonly observer: Observer;
}

/** What a factory compiles with. `table` holds what the config's policies share (consumers, authenticators). */
export interface CompileEnv {
  readonly config: GatewayConfig;
  readonly shared: SharedTables;
  /** per-table values other factories made, by key (e.g. 'auth.authenticators') */
  readonly tableState: Map<string, unknown>;
}

/** Semantic checks at load (after the schema): push every problem with its config path; never mutate. */
export interface CheckEnv {
  readonly problems: string[];
  readonly files: ConfigFiles;
}

/** A JSON Schema fragment (plain object; ajv compiles the assembled whole). */
export type JsonSchema = Record<string, unknown>;

export interface PolicyFactory {
  /** the folder name under src/policies/ */
  readonly id: string;
  /** one line for the docs */
  readonly summary: string;
  /** route-level keys this policy reads, each with its schema (every field described, bounded) */
  readonly routeSchema?: Readonly<Record<string, JsonSchema>>;
  /** top-level config keys this policy owns */
  readonly configSchema?: Readonly<Record<string, JsonSchema>>;
  /** What the schema cannot say (references, CIDRs, ...). Pure: reports, never edits. */
  check?(config: GatewayConfig, env: CheckEnv): void;
  /** Loads what the config names (files) into the normalised config; reports what cannot be read. */
  resolve?(config: GatewayConfig, env: CheckEnv): void;
  /** Per table, before any route: compiles what routes share (put it in env.tableState). */
  prepareTable?(env: CompileEnv): void;
  /** The gateway-wide hook object (runs before the route's 404/405), or null. */
  compileGateway?(env: CompileEnv): Policy | null;
  /** The route's compiled policy, or null when the route does not use it. Runs at load, never per request. */
  compile(route: RouteConfig, routeName: string, env: CompileEnv): Policy | null;
  /** A table that used this factory's objects retired (close timers, sockets). */
  disposeTable?(env: CompileEnv): void;
}
