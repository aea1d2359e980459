// The deployment files of docs/deploy.md (examples/deploy): the Kubernetes config loads as a
// gateway config, the probes point at the listener that config opens, the container and the
// manifests agree on paths, and systemd accepts the unit (systemd-analyze verify).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
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
