// The dashboard's browser code. It runs in the page, not in the gateway: page.ts serves
// `(dashboardApp)()` as /admin/ui/app.js (a function's source, so it ships with the build
// and needs no bundler on the user's side). It must not use anything outside itself.
// Every 2 s it reads /metrics (the same numbers Prometheus scrapes), keeps a minute of
// samples and shows rates, error ratios and quantiles over that minute (as
// histogram_quantile would), plus /admin/upstreams and /admin/reloads.
/* eslint-disable @typescript-eslint/no-explicit-any */

export function dashboardApp(): void {
  const g: any = globalThis;
  const doc: any = g.document;
  const WINDOW_MS = 60_000;
  const REFRESH_MS = Number(doc.body.dataset.refreshMs) || 2000;

  interface Sample { name: string; labels: Record<string, string>; value: number }
  interface Snapshot { at: number; samples: Sample[] }
  const snapshots: Snapshot[] = [];

  function parse(text: string): Sample[] {
    const out: Sample[] = [];
    for (const line of text.split('\n')) {
      if (!line || line[0] === '#') continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m) continue;
      const labels: Record<string, string> = {};
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let l: any;
      while ((l = re.exec(m[2] ?? '')) !== null) labels[l[1]] = l[2].replace(/\\(.)/g, (_: string, c: string) => (c === 'n' ? '\n' : c));
      out.push({ name: m[1]!, labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) });
    }
    return out;
  }

  const pick = (s: Sample[], name: string, where: Record<string, string> = {}) =>
    s.filter((x) => x.name === name && Object.keys(where).every((k) => x.labels[k] === where[k]));
  const total = (s: Sample[], name: string, where: Record<string, string> = {}) => pick(s, name, where).reduce((a, x) => a + x.value, 0);

  /** histogram_quantile over bucket increases: linear within the bucket. */
  function quantile(q: number, now: Sample[], then: Sample[] | null, name: string, where: Record<string, string>): number | null {
    const cur = pick(now, `${name}_bucket`, where);
    const bounds = new Map<string, number>();
    for (const b of cur) bounds.set(b.labels.le!, (bounds.get(b.labels.le!) ?? 0) + b.value);
    if (then) for (const b of pick(then, `${name}_bucket`, where)) bounds.set(b.labels.le!, (bounds.get(b.labels.le!) ?? 0) - b.value);
    const list = [...bounds].map(([le, c]) => [le === '+Inf' ? Infinity : Number(le), c] as [number, number]).sort((a, b) => a[0] - b[0]);
    const count = list.length ? list[list.length - 1]![1] : 0;
    if (count <= 0) return null;
    const rank = q * count;
    let prevBound = 0, prevCount = 0;
    for (const [bound, c] of list) {
      if (c >= rank) {
        if (bound === Infinity) return prevBound;
        return prevBound + (bound - prevBound) * ((rank - prevCount) / Math.max(1e-9, c - prevCount));
      }
      prevBound = bound; prevCount = c;
    }
    return prevBound;
  }

  const fmtMs = (s: number | null) => (s === null ? '–' : s < 0.001 ? `${(s * 1e6).toFixed(0)} µs` : s < 1 ? `${(s * 1000).toFixed(1)} ms` : `${s.toFixed(2)} s`);
  const fmtPct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)} %`);
  const fmtRate = (x: number | null) => (x === null ? '–' : x.toFixed(1));

  function cell(tag: string, text: string, attrs: Record<string, string> = {}): any {
    const el = doc.createElement(tag);
    el.textContent = text;
    for (const k of Object.keys(attrs)) el.setAttribute(k, attrs[k]!);
    return el;
  }

  function fill(id: string, rows: string[][], testIds?: Array<Array<string | null>>): void {
    const body = doc.querySelector(`#${id} tbody`);
    body.replaceChildren(...rows.map((r, i) => {
      const tr = doc.createElement('tr');
      r.forEach((v, j) => {
        const tid = testIds?.[i]?.[j];
        tr.appendChild(cell('td', v, tid ? { 'data-testid': tid } : {}));
      });
      return tr;
    }));
    if (!rows.length) { const tr = doc.createElement('tr'); tr.appendChild(cell('td', 'nothing yet', { colspan: '9', class: 'empty' })); body.appendChild(tr); }
  }

  const errors: Array<{ at: number; route: string; code: string; n: number }> = [];

  function render(now: Snapshot, upstreams: any, reloads: any[]): void {
    const old = snapshots.find((s) => s.at >= now.at - WINDOW_MS) ?? null;
    const then = old && old !== now ? old : null;
    const secs = then ? (now.at - then.at) / 1000 : 0;
    const s = now.samples;
    const routes = [...new Set(pick(s, 'gateway_http_requests_total').map((x) => x.labels.route ?? ''))].sort();
    const rows: string[][] = [];
    const ids: Array<Array<string | null>> = [];
    for (const r of routes) {
      const all = total(s, 'gateway_http_requests_total', { route: r });
      const before = then ? total(then.samples, 'gateway_http_requests_total', { route: r }) : 0;
      const bad = pick(s, 'gateway_http_requests_total', { route: r }).filter((x) => Number(x.labels.code) >= 500).reduce((a, x) => a + x.value, 0);
      const badBefore = then ? pick(then.samples, 'gateway_http_requests_total', { route: r }).filter((x) => Number(x.labels.code) >= 500).reduce((a, x) => a + x.value, 0) : 0;
      const n = all - before;
      const name = r || '(no route)';
      rows.push([name, String(all), then ? fmtRate(n / secs) : '–', then && n > 0 ? fmtPct((bad - badBefore) / n) : '–',
        fmtMs(quantile(0.5, s, then?.samples ?? null, 'gateway_http_request_duration_seconds', { route: r })),
        fmtMs(quantile(0.99, s, then?.samples ?? null, 'gateway_http_request_duration_seconds', { route: r }))]);
      ids.push([null, `requests-${name}`, `rate-${name}`, `errors-${name}`, `p50-${name}`, `p99-${name}`]);
    }
    fill('routes', rows, ids);

    const targets: string[][] = [];
    const tids: Array<Array<string | null>> = [];
    for (const [name, u] of Object.entries<any>(upstreams ?? {})) {
      for (const t of u.targets ?? []) {
        targets.push([name, t.host, t.health, String(t.ejections), u.breaker, String(t.inflight)]);
        tids.push([null, null, `health-${name}-${t.host}`, null, `breaker-${name}`, null]);
      }
    }
    fill('upstreams', targets, tids);

    const rl: string[][] = [];
    for (const r of [...new Set(pick(s, 'gateway_ratelimit_decisions_total').map((x) => x.labels.route!))].sort()) {
      rl.push([r, String(total(s, 'gateway_ratelimit_decisions_total', { route: r, result: 'allowed' })), String(total(s, 'gateway_ratelimit_decisions_total', { route: r, result: 'limited' }))]);
    }
    fill('ratelimits', rl);

    doc.querySelector('#pool-workers').textContent = String(total(s, 'gateway_transcoding_workers'));
    doc.querySelector('#pool-queue').textContent = String(total(s, 'gateway_transcoding_queue_depth'));
    doc.querySelector('#pool-util').textContent = fmtPct(total(s, 'gateway_transcoding_pool_utilization'));
    doc.querySelector('#pool-calls').textContent = String(total(s, 'gateway_transcoding_calls_total'));
    doc.querySelector('#inflight').textContent = String(total(s, 'gateway_http_requests_in_flight'));
    doc.querySelector('#rss').textContent = `${(total(s, 'process_resident_memory_bytes') / 1048576).toFixed(0)} MiB`;

    // Errors: 5xx answers that appeared since the previous refresh, newest first.
    const prev = snapshots.length > 1 ? snapshots[snapshots.length - 2]! : null;
    if (prev) {
      for (const x of pick(s, 'gateway_http_requests_total').filter((x) => Number(x.labels.code) >= 500)) {
        const was = total(prev.samples, 'gateway_http_requests_total', x.labels);
        if (x.value > was) errors.unshift({ at: now.at, route: x.labels.route || '(no route)', code: x.labels.code!, n: x.value - was });
      }
      errors.splice(20);
    }
    fill('errors', errors.map((e) => [new Date(e.at).toLocaleTimeString(), e.route, e.code, String(e.n)]));
    fill('reloads', (reloads ?? []).slice().reverse().map((r: any) => [new Date(r.at).toLocaleTimeString(), r.result, (r.problems ?? []).join('; ')]));
    doc.querySelector('#updated').textContent = new Date(now.at).toLocaleTimeString();
    doc.body.dataset.refreshes = String(Number(doc.body.dataset.refreshes ?? 0) + 1);
  }

  async function refresh(): Promise<void> {
    try {
      const [m, u, r] = await Promise.all([g.fetch('/admin/metrics'), g.fetch('/admin/upstreams'), g.fetch('/admin/reloads')]);
      if (!m.ok) throw new Error(`/admin/metrics: ${m.status}`);
      const snap: Snapshot = { at: Date.now(), samples: parse(await m.text()) };
      snapshots.push(snap);
      while (snapshots.length && snapshots[0]!.at < snap.at - WINDOW_MS - REFRESH_MS) snapshots.shift();
      render(snap, u.ok ? await u.json() : {}, r.ok ? await r.json() : []);
      doc.querySelector('#status').textContent = 'live';
      doc.querySelector('#status').className = 'ok';
    } catch (e: any) {
      doc.querySelector('#status').textContent = `not updating: ${e.message}`;
      doc.querySelector('#status').className = 'bad';
    }
    g.setTimeout(refresh, REFRESH_MS);
  }
  void refresh();
}
