// Micro-benchmarks of the hot helpers every request runs, each against the naive version a
// newcomer would write, measured in the same process, interleaved (ABAB), ratios reported:
// path normalisation, the header scan, routing, header edits.
// `npm run bench:micro`; results in bench/results/micro.json. (The policy runner's cost is
// measured end to end by bench/ab.ts: a route with no policies skips it entirely.)
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { normalisePath } from '../src/router/normalise-path.js';
import { scanRequestHeaders } from '../src/proxy/request-headers.js';
import { Router, paramNamesOf } from '../src/router/router.js';
import { compilePredicates } from '../src/router/predicates.js';
import { applyHeaderOps, compileHeaderOps } from '../src/policies/headers/header-ops.js';
import { root, log } from './scenario-settings.js';

const MS = Number(process.env.BENCH_MS ?? 400);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);

/** ops/s of fn, run in batches until MS elapsed */
function opsPerSec(fn: (i: number) => unknown): number {
  let sink = 0;
  const until = performance.now() + MS;
  let n = 0;
  while (performance.now() < until) {
    for (let i = 0; i < 2000; i++, n++) if (fn(n)) sink++;
  }
  if (sink < 0) log(''); // keep results alive
  return n / (MS / 1000);
}

// ---- path normalisation: ours (one pass) vs decode → split → resolve → join
const PATHS = ['/api/users/123/orders', '/api/%75sers//7/../8', '/static/css/site.css', '/v1/shelves/classics/books/1', '/a/b/c/d/e/f/g/h'];
function naiveNormalise(p: string): string | null {
  let d: string;
  try { d = decodeURIComponent(p); } catch { return null; }
  const out: string[] = [];
  for (const s of d.split('/')) { if (s === '' || s === '.') continue; if (s === '..') out.pop(); else out.push(encodeURIComponent(s)); }
  return '/' + out.join('/');
}

// ---- header scan: ours (flat list, one pass) vs an object of arrays, then checks
const HEADERS = ['host', 'api.example', 'user-agent', 'bench/1.0', 'accept', '*/*', 'accept-encoding', 'gzip, br', 'authorization', 'Bearer abc.def.ghi', 'x-request-id', 'r-123', 'cookie', 'a=1; b=2', 'content-type', 'application/json'];
const LIMITS = { maxHeaderBytes: 16384, maxHeaderCount: 100 };
function naiveScan(raw: string[]): unknown {
  const h: Record<string, string[]> = {};
  for (let i = 0; i < raw.length; i += 2) (h[raw[i]!] ??= []).push(raw[i + 1]!);
  if ((h['content-length']?.length ?? 0) > 1) return null;
  if (Object.values(h).flat().some((v) => /[\r\n\0]/.test(v))) return null;
  const forward = Object.entries(h).filter(([k]) => !['connection', 'keep-alive', 'transfer-encoding', 'host'].includes(k)).flatMap(([k, vs]) => vs.flatMap((v) => [k, v]));
  return { host: h.host?.[0], forward, requestId: h['x-request-id']?.[0] ?? crypto.randomUUID() };
}

// ---- routing: our segment tree vs a linear scan of regexes (1,000 routes)
const N_ROUTES = 1000;
const specs = Array.from({ length: N_ROUTES }, (_, i) => ({ path: `/svc${i}/items/:id`, name: `r${i}` }));
const routable = (name: string, path: string) => ({ name, methods: null, headerPredicates: compilePredicates(undefined, true), queryPredicates: compilePredicates(undefined, false), paramNames: paramNamesOf(path) });
const router = new Router(specs.map((s) => ({ route: routable(s.name, s.path), hosts: null, path: s.path })));
const regexes = specs.map((s) => ({ re: new RegExp('^' + s.path.replace(/:[a-z]+/g, '([^/]+)') + '$'), name: s.name }));
const lookups = Array.from({ length: 64 }, (_, i) => `/svc${(i * 97) % N_ROUTES}/items/${i}`);
const input = (path: string) => ({ method: 'GET', host: 'a', path, header: () => undefined, queryParam: () => undefined });
function naiveRoute(path: string): string | null {
  for (const r of regexes) if (r.re.test(path)) return r.name;
  return null;
}

// ---- header edits: ours (compiled set, in-place) vs filter + concat per request
const ops = compileHeaderOps({ remove: ['server', 'x-powered-by'], add: { 'x-frame-options': 'DENY', 'strict-transport-security': 'max-age=63072000' } })!;
const UPSTREAM = ['content-type', 'application/json', 'server', 'nginx', 'x-powered-by', 'php', 'cache-control', 'no-cache', 'etag', '"abc"'];
function naiveOps(flat: string[]): string[] {
  const removed = new Set(['server', 'x-powered-by', 'x-frame-options', 'strict-transport-security']);
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) if (!removed.has(flat[i]!.toLowerCase())) pairs.push([flat[i]!, flat[i + 1]!]);
  return [...pairs, ['x-frame-options', 'DENY'], ['strict-transport-security', 'max-age=63072000']].flat();
}

const cases: Array<{ name: string; ours: (i: number) => unknown; naive: (i: number) => unknown }> = [
  { name: 'path normalisation', ours: (i) => normalisePath(PATHS[i % PATHS.length]!, true).ok, naive: (i) => naiveNormalise(PATHS[i % PATHS.length]!) },
  { name: 'request header scan', ours: () => scanRequestHeaders([...HEADERS], LIMITS), naive: () => naiveScan(HEADERS) },
  { name: `routing (${N_ROUTES} routes)`, ours: (i) => router.match(input(lookups[i & 63]!)).kind === 'route', naive: (i) => naiveRoute(lookups[i & 63]!) },
  { name: 'response header edits', ours: () => { const h = [...UPSTREAM]; applyHeaderOps(h, ops); return h.length; }, naive: () => naiveOps(UPSTREAM).length },
];

const rows: Array<{ helper: string; oursOpsPerSec: number; naiveOpsPerSec: number; ratio: number }> = [];
for (const c of cases) {
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < ROUNDS; r++) { a.push(opsPerSec(c.ours)); b.push(opsPerSec(c.naive)); }
  const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
  const row = { helper: c.name, oursOpsPerSec: Math.round(med(a)), naiveOpsPerSec: Math.round(med(b)), ratio: +(med(a) / med(b)).toFixed(2) };
  rows.push(row);
  log(`${row.helper}: ours ${row.oursOpsPerSec.toLocaleString()} ops/s, naive ${row.naiveOpsPerSec.toLocaleString()} ops/s (${row.ratio}×)`);
}
const report = { setup: { date: new Date().toISOString(), msPerMeasurement: MS, rounds: ROUNDS, node: process.version }, results: rows };
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'micro.json'), JSON.stringify(report, null, 2) + '\n');
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
