// DNS discovery for hostname and SRV targets: resolved at start, then again on the records'
// TTL (at most every dns.refreshMs). New addresses join, removed ones drain. A failed lookup
// keeps the last good answer.
import { promises as dns } from 'node:dns';
import net from 'node:net';
import type { TargetConfig } from '../config/types.js';
import type { TargetSpec } from './target.js';

export interface DnsConfig { refreshMs: number; servers?: string[] }

interface Answer { specs: TargetSpec[]; ttlSec: number }

export class DnsDiscovery {
  private readonly resolver = new dns.Resolver({ timeout: 2000, tries: 2 });
  private timer: NodeJS.Timeout | null = null;
  private last = new Map<number, TargetSpec[]>();
  private stopped = false;

  constructor(private readonly cfg: DnsConfig, private readonly entries: readonly TargetConfig[], private readonly onChange: (specs: TargetSpec[]) => void) {
    if (cfg.servers?.length) this.resolver.setServers(cfg.servers);
  }

  /** True when a target needs DNS (a name in its URL, or an SRV name). */
  static needs(t: TargetConfig): boolean {
    return t.srv !== undefined || (t.url !== undefined && net.isIP(new URL(t.url).hostname.replace(/^\[|\]$/g, '')) === 0);
  }

  /** Resolves everything once; the promise settles when the first answers are in. */
  async start(): Promise<void> {
    await this.refresh();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private async refresh(): Promise<void> {
    let minTtl = Infinity;
    await Promise.all(this.entries.map(async (entry, i) => {
      try {
        const a = entry.srv !== undefined ? await this.resolveSrv(entry) : await this.resolveHost(entry);
        this.last.set(i, a.specs);
        minTtl = Math.min(minTtl, a.ttlSec);
      } catch {
        // keep the last good answer for this entry
      }
    }));
    if (this.stopped) return;
    this.onChange([...this.last.values()].flat());
    const next = Math.max(100, Math.min(this.cfg.refreshMs, Number.isFinite(minTtl) ? minTtl * 1000 : this.cfg.refreshMs));
    this.timer = setTimeout(() => void this.refresh(), next);
    this.timer.unref();
  }

  private async addresses(host: string): Promise<{ ips: string[]; ttl: number }> {
    const [v4, v6] = await Promise.allSettled([this.resolver.resolve4(host, { ttl: true }), this.resolver.resolve6(host, { ttl: true })]);
    const recs = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    if (recs.length === 0) throw new Error(`no addresses for ${host}`);
    return { ips: recs.map((r) => r.address), ttl: Math.min(...recs.map((r) => r.ttl)) };
  }

  private async resolveHost(entry: TargetConfig): Promise<Answer> {
    const url = new URL(entry.url!);
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    const { ips, ttl } = await this.addresses(url.hostname);
    return {
      ttlSec: ttl,
      specs: ips.map((ip) => ({ connectOrigin: `${url.protocol}//${net.isIPv6(ip) ? `[${ip}]` : ip}:${port}`, authority: url.host, weight: entry.weight })),
    };
  }

  private async resolveSrv(entry: TargetConfig): Promise<Answer> {
    const records = await this.resolver.resolveSrv(entry.srv!);
    if (records.length === 0) throw new Error(`no SRV records for ${entry.srv}`);
    const best = Math.min(...records.map((r) => r.priority));
    const specs: TargetSpec[] = [];
    let ttl = this.cfg.refreshMs / 1000;
    for (const r of records.filter((x) => x.priority === best)) {
      const { ips, ttl: t } = await this.addresses(r.name);
      ttl = Math.min(ttl, t);
      for (const ip of ips) {
        specs.push({ connectOrigin: `http://${net.isIPv6(ip) ? `[${ip}]` : ip}:${r.port}`, authority: `${r.name}:${r.port}`, weight: Math.max(1, r.weight) * entry.weight });
      }
    }
    return { specs, ttlSec: ttl };
  }
}
