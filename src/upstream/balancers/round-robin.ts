// Smooth weighted round-robin, as nginx does it: every pick adds each target's weight to
// its current score, takes the highest, and subtracts the total from the winner. Spreads
// picks evenly (weights 5:1:1 give a,a,b,a,c,a,a rather than a,a,a,a,a,b,c).
// Unavailable targets take no part in a round.
import type { Target } from '../target.js';
import { usable, type Balancer, type PickContext } from './balancer.js';

export class RoundRobin implements Balancer {
  private readonly current: number[];

  constructor(private readonly targets: readonly Target[]) {
    this.current = targets.map(() => 0);
  }

  pick(ctx: PickContext): Target | null {
    const targets = this.targets;
    if (targets.length === 1) return targets[0]!.available(ctx.now) ? targets[0]! : null;
    const cur = this.current;
    let best = -1, total = 0;
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i]!;
      if (!usable(t, ctx)) continue;
      cur[i]! += t.weight;
      total += t.weight;
      if (best < 0 || cur[i]! > cur[best]!) best = i;
    }
    if (best < 0) return ctx.avoid && ctx.avoid.available(ctx.now) ? ctx.avoid : null;
    cur[best]! -= total;
    return targets[best]!;
  }
}
