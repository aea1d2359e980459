// The dashboard at /admin/ui: one HTML page, its stylesheet and its script (app.ts),
// served by the admin listener behind the admin API's checks. No inline script or style:
// the Content-Security-Policy allows only the page's own files, and no framing.
import { dashboardApp } from './app.js';

const CSS = `
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --muted: #6e7781; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; }
h1 { font-size: 1.3rem; margin: 0 0 .2rem; } h2 { font-size: 1rem; margin: 1.4rem 0 .4rem; }
header p { margin: 0; color: var(--muted); }
table { border-collapse: collapse; min-width: 40rem; }
th, td { text-align: left; padding: .25rem .8rem .25rem 0; border-bottom: 1px solid #8884; font-variant-numeric: tabular-nums; }
th { font-weight: 600; } td.empty { color: var(--muted); }
.ok { color: var(--ok); } .bad { color: var(--bad); }
.figures span { margin-right: 1.5rem; } .figures b { font-variant-numeric: tabular-nums; }
`;

const HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gateway dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/admin/ui/style.css"><link rel="icon" href="/admin/ui/favicon.svg"></head>
<body data-refresh-ms="2000">
<header><h1>Gateway</h1><p>Status: <span id="status">loading</span> · updated <span id="updated">–</span> · rates, error ratios and quantiles over the last minute, from <a href="/metrics">/metrics</a></p></header>
<p class="figures"><span>In flight <b id="inflight">–</b></span><span>Memory <b id="rss">–</b></span></p>
<h2>Routes</h2>
<table id="routes"><thead><tr><th>Route</th><th>Requests</th><th>req/s</th><th>5xx</th><th>p50</th><th>p99</th></tr></thead><tbody></tbody></table>
<h2>Upstream targets</h2>
<table id="upstreams"><thead><tr><th>Upstream</th><th>Target</th><th>Health</th><th>Ejections</th><th>Breaker</th><th>In flight</th></tr></thead><tbody></tbody></table>
<h2>Rate limits</h2>
<table id="ratelimits"><thead><tr><th>Route</th><th>Allowed</th><th>Limited</th></tr></thead><tbody></tbody></table>
<h2>Transcoding pool</h2>
<p class="figures"><span>Workers <b id="pool-workers">–</b></span><span>Queued <b id="pool-queue">–</b></span><span>Utilisation <b id="pool-util">–</b></span><span>Calls <b id="pool-calls">–</b></span></p>
<h2>Recent errors (5xx)</h2>
<table id="errors"><thead><tr><th>Seen</th><th>Route</th><th>Status</th><th>Count</th></tr></thead><tbody></tbody></table>
<h2>Recent reloads</h2>
<table id="reloads"><thead><tr><th>At</th><th>Result</th><th>Problems</th></tr></thead><tbody></tbody></table>
<script src="/admin/ui/app.js"></script>
</body></html>
`;

const JS = `(${dashboardApp.toString()})();\n`;

const SECURITY = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** The dashboard's files by path. */
export const DASHBOARD: Record<string, { type: string; body: string; headers: Record<string, string> }> = {
  '/admin/ui': { type: 'text/html; charset=utf-8', body: HTML, headers: SECURITY },
  '/admin/ui/': { type: 'text/html; charset=utf-8', body: HTML, headers: SECURITY },
  '/admin/ui/app.js': { type: 'text/javascript; charset=utf-8', body: JS, headers: SECURITY },
  '/admin/ui/style.css': { type: 'text/css; charset=utf-8', body: CSS, headers: SECURITY },
  '/admin/ui/favicon.svg': { type: 'image/svg+xml', body: '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1a7f37"/></svg>', headers: SECURITY },
};
