// What a policy's unit test compiles with: a real, validated config (YAML) and real shared
// tables (a small limiter, a quota table), every factory's prepareTable run — the same
// environment a RouteTable gives them, without listeners or upstream pools.
import { parseConfig } from '../config/load.js';
import { GcraTable } from '../ratelimit/gcra-table.js';
import { QuotaTable } from '../ratelimit/quota-table.js';
import { allocateCancelFlags } from '../transcode/cancellation.js';
import { allocateGrpcTargetState } from '../transcode/grpc-target-state.js';
import { Observer } from '../observability/observer.js';
import { policies } from '../policies/registry.js';
import type { CompileEnv } from './policy.js';

export function compileEnvFor(yaml: string): CompileEnv {
  const config = parseConfig(yaml, 'test config');
  const env: CompileEnv = {
    config,
    shared: { limiter: new GcraTable(GcraTable.allocate(1024), 1), quotas: new QuotaTable(QuotaTable.allocate()), remoteLimiter: null, transcoder: null, cancelFlags: allocateCancelFlags(), grpcTargets: allocateGrpcTargetState(), observer: Observer.none },
    tableState: new Map(),
  };
  for (const f of policies()) f.prepareTable?.(env);
  return env;
}

/** The problems a config's load reports (empty when it loads). */
export function loadProblems(yaml: string): string[] {
  try { parseConfig(yaml, 'test config'); return []; } catch (e) { return (e as { problems?: string[] }).problems ?? [String(e)]; }
}
