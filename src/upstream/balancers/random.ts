// Weighted random.
import type { Target } from '../target.js';
import { usable, type Balancer, type PickContext } from './balancer.js';

export class RandomBalancer implements Balancer {
  constructor(private readonly targets: readonly Target[]) {}

  pick(ctx: PickContext): Target | null {
    let total = 0;
    for (const t of this.targets) if (usable(t, ctx)) total += t.weight;
    if (total === 0) return ctx.avoid && ctx.avoid.available(ctx.now) ? ctx.avoid : null;
    let r = Math.random() * total;
    for (const t of this.targets) {
      if (!usable(t, ctx)) continue;
      r -= t.weight;
      if (r < 0) return t;
    }
    return null;
  }
}
