// Measures, per engine, what the gateway does with each malformed request of the corpus:
// the status it answers, or whether the connection is dropped unanswered, and whether
// anything reached the upstream. Prints the markdown table docs/security.md carries and
// writes bench/results/malformed.json.  npm run measure:malformed
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './scenario-settings.js';
import { ENGINES, startGatewayProcess } from '../test/helpers/gateway-process.js';
import { startUpstream } from '../test/helpers/upstream.js';
import { rawExchange, statusOf } from '../test/helpers/client.js';
import { MALFORMED } from '../test/helpers/malformed-corpus.js';

const up = await startUpstream();
const results: Record<string, Record<string, string>> = {};
for (const engine of ENGINES) {
  const gw = await startGatewayProcess({ upstreams: { up: { targets: [{ url: up.url }] } }, routes: [{ match: { prefix: '/' }, upstream: 'up' }] }, engine);
  for (const [what, bytes] of MALFORMED) {
    const before = up.seen.length;
    const r = await rawExchange(gw.port, Buffer.from(bytes, 'latin1'), engine === 'uws' ? 13_000 : 3000);
    const status = statusOf(r.text);
    const forwarded = up.seen.length > before;
    (results[what] ??= {})[engine] = `${status ?? (r.closed ? 'dropped (closed)' : 'dropped (no answer)')}${forwarded ? ' FORWARDED' : ''}`;
  }
  await gw.stop();
}
await up.close();
const lines = ['| request | uws | node |', '|---|---|---|', ...Object.entries(results).map(([what, r]) => `| ${what} | ${r.uws} | ${r.node} |`)];
process.stdout.write(lines.join('\n') + '\n');
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'malformed.json'), JSON.stringify({ measuredAt: new Date().toISOString(), node: process.version, results }, null, 2) + '\n');
