// Selection = build + pick: a balancer precomputes what it needs from the target list and
// picks without allocating. `pick` skips unavailable targets and the one to avoid (the
// target a retry just failed on) when another exists; null means none is available.
import type { Target } from '../target.js';

export interface PickContext {
  /** consistent-hash key (header / cookie / client IP), if the balancer uses one */
  hashKey?: string;
  /** a target to avoid if any other is available (retries) */
  avoid?: Target | null;
  now: number;
}

export interface Balancer {
  pick(ctx: PickContext): Target | null;
}

export function usable(t: Target, ctx: PickContext): boolean {
  return t !== ctx.avoid && t.available(ctx.now);
}
