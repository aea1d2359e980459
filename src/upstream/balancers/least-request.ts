// Least request by the power of two random choices (Envoy's default): pick two usable
// targets at random (weighted), keep the one with fewer in-flight requests per weight.
import type { Target } from '../target.js';
import { RandomBalancer } from './random.js';
import type { Balancer, PickContext } from './balancer.js';

export class LeastRequest implements Balancer {
  private readonly random: RandomBalancer;

  constructor(targets: readonly Target[]) {
    this.random = new RandomBalancer(targets);
  }

  pick(ctx: PickContext): Target | null {
    const a = this.random.pick(ctx);
    if (!a) return null;
    // The second choice is a different target when there is one (with two targets,
    // sampling with replacement would ignore the load a quarter of the time).
    const b = this.random.pick({ hashKey: ctx.hashKey, now: ctx.now, avoid: a });
    if (!a || !b) return a ?? b;
    return (a.inflight + 1) / a.weight <= (b.inflight + 1) / b.weight ? a : b;
  }
}
