// Consistent hashing on a ring with virtual nodes (160 per unit of weight, as ketama):
// adding a target moves only ~1/N of the keys. A key whose target is unavailable walks
// the ring to the next usable target.
import type { Target } from '../target.js';
import { usable, type Balancer, type PickContext } from './balancer.js';

const VNODES_PER_WEIGHT = 160;

/** FNV-1a, 32 bit */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // final avalanche (murmur3 fmix) so that similar keys spread over the ring
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
  return h >>> 0;
}

export class ConsistentHash implements Balancer {
  private readonly points: Uint32Array;
  private readonly owners: Target[];
  private next = 0;

  constructor(private readonly targets: readonly Target[]) {
    const ring: Array<[number, Target]> = [];
    for (const t of targets) {
      for (let v = 0; v < VNODES_PER_WEIGHT * t.weight; v++) ring.push([hash32(`${t.origin}#${v}`), t]);
    }
    ring.sort((a, b) => a[0] - b[0]);
    this.points = Uint32Array.from(ring.map((r) => r[0]));
    this.owners = ring.map((r) => r[1]);
  }

  pick(ctx: PickContext): Target | null {
    if (ctx.hashKey === undefined) {
      // No key on this request: spread like round-robin over usable targets.
      for (let i = 0; i < this.targets.length; i++) {
        const t = this.targets[this.next++ % this.targets.length]!;
        if (usable(t, ctx)) return t;
      }
      return null;
    }
    const h = hash32(ctx.hashKey);
    const pts = this.points;
    let lo = 0, hi = pts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pts[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    for (let i = 0; i < this.owners.length; i++) {
      const t = this.owners[(lo + i) % this.owners.length]!;
      if (usable(t, ctx)) return t;
    }
    return null;
  }
}
