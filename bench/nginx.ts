// nginx as the reference reverse proxy: installed from Debian packages when missing,
// one worker, upstream keepalive.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProc, type Proc } from './processes.js';

export function findNginx(): string | null {
  for (const p of ['/usr/sbin/nginx', '/usr/bin/nginx']) if (existsSync(p)) return p;
  const which = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : null;
}

/** Returns the nginx binary, installing it when possible; null with a reason printed when not. */
export function ensureNginx(log: (s: string) => void): string | null {
  const found = findNginx();
  if (found) return found;
  if (process.getuid?.() !== 0) { log('nginx is not installed and this is not root: skipping the nginx baseline'); return null; }
  log('nginx is not installed: installing nginx-light from Debian packages');
  const r = spawnSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light'], { stdio: 'ignore' });
  const after = findNginx();
  if (r.status !== 0 || !after) log('could not install nginx: skipping the nginx baseline');
  return after;
}

export async function startNginx(bin: string, core: number | null, upstreamPort: number, port: number): Promise<Proc> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-nginx-'));
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, d));
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream up { server 127.0.0.1:${upstreamPort}; keepalive 128; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`);
  // nginx prints nothing when ready: a wrapper echoes the port once it accepts connections.
  const script = `${bin} -c ${conf} -p ${dir} & pid=$!; trap "kill $pid" TERM; for i in $(seq 100); do (echo > /dev/tcp/127.0.0.1/${port}) 2>/dev/null && break; sleep 0.05; done; echo '{"port": ${port}}'; wait $pid`;
  return startProc(core, 'bash', ['-c', script]);
}
