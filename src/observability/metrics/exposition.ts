// Prometheus text format 0.0.4, and OpenMetrics 1.0 for scrapers that ask for it
// (Accept: application/openmetrics-text). Families come from the shared store and from
// values read at scrape time (target health, breaker state, pool figures, process).
import type { MetricType } from './store.js';

export interface Series { labels: string; value: number; buckets?: number[]; sum?: number; count?: number }
export interface Rendered { name: string; help: string; type: MetricType; buckets?: readonly number[]; series: Iterable<Series> }

export const PROMETHEUS_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** Whether an Accept header asks for OpenMetrics. */
export const wantsOpenMetrics = (accept: string | undefined): boolean => /application\/openmetrics-text/i.test(accept ?? '');

const num = (v: number) => (Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN');
const helpText = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const withLabel = (labels: string, extra: string) => `{${labels ? `${labels},` : ''}${extra}}`;
const braces = (labels: string) => (labels ? `{${labels}}` : '');

export function render(families: Iterable<Rendered>, openMetrics: boolean): string {
  const out: string[] = [];
  for (const f of families) {
    // OpenMetrics names a counter family without its _total suffix (the samples keep it).
    const family = openMetrics && f.type === 'counter' && f.name.endsWith('_total') ? f.name.slice(0, -6) : f.name;
    out.push(`# HELP ${family} ${helpText(f.help)}`, `# TYPE ${family} ${f.type}`);
    for (const s of f.series) {
      if (f.type !== 'histogram') { out.push(`${f.name}${braces(s.labels)} ${num(s.value)}`); continue; }
      let cumulative = 0;
      const bounds = f.buckets ?? [];
      for (let i = 0; i <= bounds.length; i++) {
        cumulative += s.buckets![i] ?? 0;
        out.push(`${f.name}_bucket${withLabel(s.labels, `le="${i < bounds.length ? num(bounds[i]!) : '+Inf'}"`)} ${cumulative}`);
      }
      out.push(`${f.name}_sum${braces(s.labels)} ${num(s.sum ?? 0)}`, `${f.name}_count${braces(s.labels)} ${s.count ?? 0}`);
    }
  }
  if (openMetrics) out.push('# EOF');
  return out.join('\n') + '\n';
}
