// Active health checks: GET `path` on every target every intervalMs (with the target's Host
// header); healthyThreshold passes in a row bring a target back, unhealthyThreshold
// failures in a row (wrong status, timeout, connection error) take it out.
import http from 'node:http';
import https from 'node:https';
import type { HealthCheckConfig } from '../config/types.js';
import type { Target } from './target.js';

export class HealthChecker {
  private timer: NodeJS.Timeout | null = null;
  private readonly running = new Set<Target>();

  constructor(private readonly cfg: HealthCheckConfig, private readonly targets: () => readonly Target[]) {}

  start(): void {
    const tick = () => { for (const t of this.targets()) this.check(t); };
    tick();
    this.timer = setInterval(tick, this.cfg.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private check(t: Target): void {
    if (this.running.has(t)) return; // the previous probe is still out
    this.running.add(t);
    const url = new URL(this.cfg.path, t.origin);
    const lib = url.protocol === 'https:' ? https : http;
    let settled = false;
    const settle = (ok: boolean) => {
      if (settled) return;
      settled = true;
      this.running.delete(t);
      this.verdict(t, ok);
    };
    const req = lib.request(url, { ...t.tls, method: 'GET', agent: false, timeout: this.cfg.timeoutMs, headers: { host: t.authority, 'user-agent': 'edge-gateway-health-check' } }, (res) => {
      res.resume();
      settle(this.cfg.expectStatus.includes(res.statusCode ?? 0));
    });
    req.on('timeout', () => { req.destroy(); settle(false); });
    req.on('error', () => settle(false));
    req.end();
  }

  private verdict(t: Target, ok: boolean): void {
    if (ok) {
      t.hcFails = 0;
      if (!t.healthy && ++t.hcPasses >= this.cfg.healthyThreshold) { t.healthy = true; t.hcPasses = 0; }
    } else {
      t.hcPasses = 0;
      if (t.healthy && ++t.hcFails >= this.cfg.unhealthyThreshold) { t.healthy = false; t.hcFails = 0; }
    }
  }
}
