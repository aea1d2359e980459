// Passive health: N consecutive failures (5xx, connect failure, reset, timeout) eject a
// target for base × 2^(ejections-1) (capped), never more than maxEjectionPercent of the
// upstream at once. A success resets the count.
import type { OutlierConfig } from '../config/types.js';
import type { Target } from './target.js';

export class OutlierDetector {
  constructor(private readonly cfg: OutlierConfig, private readonly targets: readonly Target[]) {}

  success(t: Target): void {
    t.consecutiveFailures = 0;
  }

  failure(t: Target, now: number): void {
    t.consecutiveFailures++;
    if (!this.cfg.enabled || t.consecutiveFailures < this.cfg.consecutiveFailures || !t.available(now)) return;
    const ejected = this.targets.filter((x) => !x.available(now)).length;
    if (((ejected + 1) / this.targets.length) * 100 > this.cfg.maxEjectionPercent && this.targets.length > 1) return;
    if (this.targets.length === 1 && this.cfg.maxEjectionPercent < 100) return;
    t.ejections++;
    t.ejectedUntil = now + Math.min(this.cfg.baseEjectionMs * 2 ** (t.ejections - 1), this.cfg.maxEjectionMs);
    t.consecutiveFailures = 0;
  }
}
