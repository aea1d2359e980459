// The deployment files of docs/deploy.md (examples/deploy): the Kubernetes config loads as a
// gateway config, the probes point at the listener that config opens, the container and the
// manifests agree on paths, and systemd accepts the unit (systemd-analyze verify).
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CLI, spawnGateway } from './helpers/gateway-process.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { parseConfig } from '../src/config/load.js';
import { binaryName } from '../src/binary/build-binary.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEPLOY = join(ROOT, 'examples', 'deploy');
const yamlOf = (file: string) => parseAllDocuments(readFileSync(join(DEPLOY, file), 'utf8')).map((d) => {
  if (d.errors.length) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
  return d.toJS() as Record<string, any>;
});

t.test('kubernetes: the ConfigMap is a valid config and the probes reach its status listener', async (t) => {
  const [cm] = yamlOf('k8s/configmap.yaml');
  const config = parseConfig(cm!.data['gateway.yaml'], 'k8s/configmap.yaml');
  const status = config.observability.status!.listen;
  t.equal(status.host, '0.0.0.0', 'the kubelet probes the pod IP');
  t.equal(config.admin.host, '127.0.0.1', 'the admin API stays on loopback');
  t.equal(config.rateLimit.backend, 'redis', 'instances share limits through Redis');

  const [deploy] = yamlOf('k8s/deployment.yaml');
  const pod = deploy!.spec.template.spec;
  const gw = pod.containers.find((c: { name: string }) => c.name === 'gateway');
  const port = (name: string) => gw.ports.find((p: { name: string }) => p.name === name).containerPort;
  t.equal(gw.livenessProbe.httpGet.path, '/admin/health');
  t.equal(gw.readinessProbe.httpGet.path, '/admin/ready');
  t.equal(port(gw.livenessProbe.httpGet.port), status.port, 'liveness on the status listener');
  t.equal(port(gw.readinessProbe.httpGet.port), status.port);
  t.equal(port('http'), config.listen.port);
  t.equal(port('metrics'), config.observability.metrics.listen!.port);
  t.ok(pod.terminationGracePeriodSeconds * 1000 > config.limits.shutdownTimeoutMs + 5000, 'the grace period covers the drain and the preStop pause');
  t.ok(deploy!.spec.template.metadata.annotations['checksum/config'], 'a checksum annotation to roll on config changes');
  const cache = gw.env.find((e: { name: string }) => e.name === 'GATEWAY_CACHE_DIR').value as string;
  t.ok(gw.volumeMounts.some((m: { mountPath: string }) => cache.startsWith(`${m.mountPath}/`)), 'the asset cache is on a writable volume (the root is read-only)');
  t.ok(pod.shareProcessNamespace, 'the reloader can signal the gateway');
  t.match(pod.containers.find((c: { name: string }) => c.name === 'config-reloader').command.join(' '), /pkill -HUP -f '\^\/usr\/local\/bin\/edge-gateway'/);
  const [kustomization] = yamlOf('k8s/kustomization.yaml');
  t.same(kustomization!.resources, ['configmap.yaml', 'deployment.yaml', 'service.yaml']);
});

t.test('kubernetes: the config-reloader sidecar\'s script SIGHUPs the gateway when the mounted config changes', async (t) => {
  const [deploy] = yamlOf('k8s/deployment.yaml');
  const script = deploy!.spec.template.spec.containers.find((c: { name: string }) => c.name === 'config-reloader').command.at(-1) as string;
  const dir = mkdtempSync(join(tmpdir(), 'reloader-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // the manifest's script as it is, but for the mounted file's path, a 0.2 s period instead of
  // 5 s, and a binary path of this test's own (pkill -f matches the whole command line)
  const binary = join(dir, 'usr/local/bin/edge-gateway');
  const file = join(dir, 'gateway.yaml');
  const run = script.replaceAll('/etc/edge-gateway/gateway.yaml', file).replace('sleep 5', 'sleep 0.2').replace("'^/usr/local/bin/edge-gateway'", `'^${binary}'`);
  t.not(run, script, 'the script was adapted');
  t.match(run, new RegExp(`pkill -HUP -f '\\^${binary.replaceAll('/', '\\/')}'`));
  const upstream = createServer((req, res) => res.end(`upstream saw ${req.url}`));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => upstream.close());
  const config = (routes: string[]) => stringify({
    engine: 'uws', threads: 1, listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 },
    upstreams: { up: { targets: [{ url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` }] } },
    routes: routes.map((r) => ({ name: r, match: { prefix: `/${r}` }, upstream: 'up' })),
  });
  writeFileSync(file, config(['one']));
  const gw = await spawnGateway(process.execPath, [CLI, '--config', file], { env: { ...process.env, LOG_LEVEL: 'info' }, engine: 'uws', configFile: file, argv0: binary });
  t.teardown(() => gw.stop());
  const reloader = spawn('sh', ['-c', run], { stdio: 'ignore' });
  t.teardown(() => { reloader.kill('SIGKILL'); });
  await new Promise((r) => setTimeout(r, 500)); // it has read the first checksum
  const status = async (path: string) => (await fetch(`${gw.url}${path}`)).status;
  t.equal(await status('/two'), 404, 'no route two yet');
  writeFileSync(file, config(['one', 'two'])); // what the kubelet does to a mounted ConfigMap
  for (let i = 0; i < 50 && (await status('/two')) !== 200; i++) await new Promise((r) => setTimeout(r, 100));
  t.equal(await status('/two'), 200, 'the new route serves after the reloader\'s SIGHUP');
  t.match(gw.output(), /config reloaded/);
  writeFileSync(file, 'routes: [ { name: broken } ]\n');
  for (let i = 0; i < 50 && !gw.output().includes('reload failed'); i++) await new Promise((r) => setTimeout(r, 100));
  t.match(gw.output(), /reload failed; keeping the running config/, 'a broken config is signalled too, and refused');
  t.equal(await status('/two'), 200, 'the running config still serves');
  t.equal(gw.proc.exitCode, null, 'the gateway runs on');
});

t.test('the container file runs the binary this build makes, as the manifests expect', async (t) => {
  const file = readFileSync(join(DEPLOY, 'Containerfile'), 'utf8');
  t.match(file, new RegExp(`^COPY --chmod=0755 dist/${binaryName('linux', 'x64')} /usr/local/bin/edge-gateway$`, 'm'));
  t.match(file, /^FROM gcr\.io\/distroless\/cc-debian12:nonroot$/m, 'glibc and libstdc++, nothing else');
  t.match(file, /^ENTRYPOINT \["\/usr\/local\/bin\/edge-gateway"\]$/m);
  t.match(file, /^ENV GATEWAY_CACHE_DIR=\/var\/cache\/edge-gateway\/assets /m);
});

t.test('systemd accepts the unit', async (t) => {
  const unit = readFileSync(join(DEPLOY, 'systemd', 'edge-gateway.service'), 'utf8');
  t.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  for (const opt of ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'AmbientCapabilities=CAP_NET_BIND_SERVICE', 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE', 'CacheDirectory=edge-gateway']) {
    t.match(unit, new RegExp(`^${opt}$`, 'm'), opt);
  }
  t.notMatch(unit, /^MemoryDenyWriteExecute=yes/m, "V8's JIT needs writable code pages");
  const verify = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  if (verify.error) { t.comment('systemd-analyze is not installed: the unit was not verified'); return; }
  const dir = mkdtempSync(join(tmpdir(), 'gw-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // verify wants ExecStart's file to exist: any executable stands in for the binary
  const copy = join(dir, 'edge-gateway.service');
  writeFileSync(copy, unit.replaceAll('/usr/local/bin/edge-gateway', process.execPath));
  const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stderr.trim(), '', 'no unknown or misplaced directive');
});
