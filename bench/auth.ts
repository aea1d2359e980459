// npm run bench:auth: what authentication costs on the small GET, one gateway (uws), same
// run, interleaved rounds: no auth, API key, JWT RS256 and ES256 (verified-token cache on),
// and RS256 with the cache off (a signature check on every request).
// Target (issue #5): JWT costs ≤ 15% of req/s versus no auth.
import { writeFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import { startProc, cpuSeconds } from './processes.js';
import { here, root, short, seconds, rounds, log } from './scenario-settings.js';
import { runLoad, PROXY_CORE, LOAD_CORE, generator } from './load-runner.js';


async function main(): Promise<void> {
  const rs = await generateKeyPair('RS256');
  const es = await generateKeyPair('ES256');
  const token = (alg: 'RS256' | 'ES256', key: CryptoKey) =>
    new SignJWT({ sub: 'bench-user', scope: 'read' }).setProtectedHeader({ alg }).setIssuer('https://idp.bench/').setAudience('api').setIssuedAt().setExpirationTime('2h').sign(key);
  const rsJwt = await token('RS256', rs.privateKey);
  const esJwt = await token('ES256', es.privateKey);
  const jwt = (alg: string, pem: string, cache = true) => ({
    type: 'jwt', algorithms: [alg], keys: [{ publicKey: pem }], issuers: ['https://idp.bench/'], audiences: ['api'],
    ...(cache ? {} : { cache: { maxTokens: 0 } }),
  });
  const upstream = await startProc(LOAD_CORE, process.execPath, [join(here, 'upstream-server.js')]);
  const dir = mkdtempSync(join(tmpdir(), 'bench-auth-'));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, stringify({
    engine: 'uws', threads: 1, listen: { host: '127.0.0.1', port: 0 }, admin: { enabled: false },
    consumers: [{ id: 'bench', keys: [{ key: 'bench-api-key-0123456789' }] }],
    auth: {
      key: { type: 'api-key' },
      rs: jwt('RS256', await exportSPKI(rs.publicKey)),
      es: jwt('ES256', await exportSPKI(es.publicKey)),
      rsNoCache: jwt('RS256', await exportSPKI(rs.publicKey), false),
    },
    upstreams: { up: { targets: [{ url: `http://127.0.0.1:${upstream.port}` }] } },
    routes: [
      { match: { path: '/none/small' }, upstream: 'up', rewrite: '/small' },
      { match: { path: '/key/small' }, upstream: 'up', rewrite: '/small', auth: ['key'] },
      { match: { path: '/rs/small' }, upstream: 'up', rewrite: '/small', auth: ['rs'] },
      { match: { path: '/es/small' }, upstream: 'up', rewrite: '/small', auth: ['es'] },
      { match: { path: '/rs-nocache/small' }, upstream: 'up', rewrite: '/small', auth: ['rsNoCache'] },
    ],
  }));
  const gw = await startProc(PROXY_CORE, process.execPath, [join(root, 'dist', 'src', 'cli.js'), '--config', file], { LOG_LEVEL: 'info' }, /"port":(\d+)/);
  const scenarios: Array<{ name: string; path: string; headers: Record<string, string> }> = [
    { name: 'no auth', path: '/none/small', headers: {} },
    { name: 'API key', path: '/key/small', headers: { 'x-api-key': 'bench-api-key-0123456789' } },
    { name: 'JWT RS256', path: '/rs/small', headers: { authorization: `Bearer ${rsJwt}` } },
    { name: 'JWT ES256', path: '/es/small', headers: { authorization: `Bearer ${esJwt}` } },
    { name: 'JWT RS256, no cache', path: '/rs-nocache/small', headers: { authorization: `Bearer ${rsJwt}` } },
  ];
  const sums = new Map<string, { rps: number; p99: number; cpu: number; n: number }>();
  try {
    for (const sc of scenarios) {
      const probe = await fetch(`http://127.0.0.1:${gw.port}${sc.path}`, { headers: sc.headers });
      if (probe.status !== 200) throw new Error(`${sc.name}: ${probe.status} ${await probe.text()}`);
    }
    for (let round = 0; round < rounds; round++) {
      for (const sc of scenarios) {
        const url = `http://127.0.0.1:${gw.port}${sc.path}`;
        await runLoad(url, 1, sc.headers);
        const cpu0 = cpuSeconds(gw.child.pid!);
        const r = await runLoad(url, seconds, sc.headers);
        const cpu = ((cpuSeconds(gw.child.pid!) - cpu0) * 1e6) / Math.max(1, r.requests);
        if (r.errors || r.non2xx) throw new Error(`${sc.name}: ${r.errors} errors, ${r.non2xx} non-2xx`);
        const s = sums.get(sc.name) ?? { rps: 0, p99: 0, cpu: 0, n: 0 };
        sums.set(sc.name, { rps: s.rps + r.rps, p99: s.p99 + r.p99, cpu: s.cpu + cpu, n: s.n + 1 });
        log(`${sc.name.padEnd(22)} ${Math.round(r.rps)} req/s  p99 ${r.p99} ms  cpu ${cpu.toFixed(1)} µs/req`);
      }
    }
  } finally {
    await gw.stop();
    await upstream.stop();
  }
  const rows = scenarios.map((sc) => {
    const s = sums.get(sc.name)!;
    return { scenario: sc.name, rps: Math.round(s.rps / s.n), p99: +(s.p99 / s.n).toFixed(2), cpuUsPerReq: +(s.cpu / s.n).toFixed(1) };
  });
  const base = rows[0]!;
  const cost = Object.fromEntries(rows.slice(1).map((r) => [r.scenario, +(1 - r.rps / base.rps).toFixed(3)]));
  const report = {
    setup: { date: new Date().toISOString(), mode: short ? 'short' : 'full', seconds, rounds, loadGenerator: generator, engine: 'uws' },
    results: rows,
    costVsNoAuth: cost,
    target: 'JWT (cached) costs ≤ 15% of req/s',
    met: cost['JWT RS256']! <= 0.15 && cost['JWT ES256']! <= 0.15,
  };
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(join(root, 'bench', 'results', `auth-${report.setup.mode}-${generator}.json`), JSON.stringify(report, null, 2) + '\n');
  process.stdout.write('| scenario | req/s | p99 ms | gateway CPU µs/req | req/s cost vs no auth |\n|---|---:|---:|---:|---:|\n');
  for (const r of rows) process.stdout.write(`| ${r.scenario} | ${r.rps} | ${r.p99} | ${r.cpuUsPerReq} | ${r === base ? '-' : `${(cost[r.scenario]! * 100).toFixed(1)}%`} |\n`);
  process.stdout.write(`\nJWT cost target (≤ 15%): ${report.met ? 'met' : 'MISSED'}\n`);
}

main().catch((e) => { console.error(e); process.exit(1); });
