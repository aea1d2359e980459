// nginx as the reference reverse proxy: installed from Debian packages when missing,
// one worker, upstream keepalive.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
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

/** A port free right now (a random one could be an ephemeral port already in use). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

/** nginx on a free port; tried twice (it can lose the port race or start slowly on a busy machine). */
export async function startNginx(bin: string, core: number | null, upstreamPort: number, accessLog: string | null = null): Promise<Proc> {
  try {
    return await startNginxOn(bin, core, upstreamPort, await freePort(), accessLog);
  } catch {
    return startNginxOn(bin, core, upstreamPort, await freePort(), accessLog);
  }
}

/** `accessLog`: a file for a JSON access log with the gateway's fields, buffered as the gateway's (64 KB or 200 ms). */
function logDirectives(accessLog: string | null): string {
  if (!accessLog) return 'access_log off;';
  const fields = '"start_time":"$time_iso8601","duration_ms":$request_time,"method":"$request_method","path":"$uri","query":"$args","protocol":"$server_protocol","status":$status,"bytes_received":$request_length,"bytes_sent":$bytes_sent,"upstream_target":"$upstream_addr","upstream_duration_ms":"$upstream_header_time","request_id":"$request_id","client_ip":"$remote_addr","user_agent":"$http_user_agent"';
  return `log_format gw escape=json '{${fields}}';
  access_log ${accessLog} gw buffer=64k flush=200ms;`;
}

async function startNginxOn(bin: string, core: number | null, upstreamPort: number, port: number, accessLog: string | null): Promise<Proc> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-nginx-'));
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, d));
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  ${logDirectives(accessLog)}
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
  // nginx prints nothing when ready: a wrapper echoes the port once it accepts connections,
  // and gives up (exit 1) if it never does.
  const script = `${bin} -c ${conf} -p ${dir} & pid=$!; trap "kill $pid" TERM; for i in $(seq 200); do if (echo > /dev/tcp/127.0.0.1/${port}) 2>/dev/null; then echo '{"port": ${port}}'; wait $pid; exit 0; fi; sleep 0.05; done; kill $pid; cat ${dir}/error.log >&2; exit 1`;
  return startProc(core, 'bash', ['-c', script]);
}
