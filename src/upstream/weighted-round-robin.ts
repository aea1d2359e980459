// Smooth weighted round-robin, as nginx does it: every pick adds each target's weight to
// its current score, takes the highest, and subtracts the total from the winner. Spreads
// picks evenly (weights 5:1:1 give a,a,b,a,c,a,a rather than a,a,a,a,a,b,c).
export class WeightedRoundRobin<T> {
  private readonly current: number[];
  private readonly total: number;

  constructor(private readonly items: readonly T[], private readonly weights: readonly number[]) {
    this.current = weights.map(() => 0);
    this.total = weights.reduce((a, b) => a + b, 0);
  }

  pick(): T {
    const items = this.items;
    if (items.length === 1) return items[0]!;
    const cur = this.current, w = this.weights;
    let best = 0;
    for (let i = 0; i < cur.length; i++) {
      cur[i]! += w[i]!;
      if (cur[i]! > cur[best]!) best = i;
    }
    cur[best]! -= this.total;
    return items[best]!;
  }
}
