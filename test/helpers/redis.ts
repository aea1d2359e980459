// A real redis-server on a free loopback port (no persistence), for the cluster-mode tests.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

export interface RedisServer { port: number; url: string; proc: ChildProcess; kill(): Promise<void> }

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 10_000);
    proc.stdout!.on('data', (d) => { out += d; if (out.includes('Ready to accept connections')) { clearTimeout(timer); resolve(); } });
    proc.once('error', (e) => { clearTimeout(timer); reject(new Error(`redis-server could not run (${e.message}); .ci/run installs it`)); });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`redis-server exited ${code}:\n${out}`)); });
  });
  proc.stdout!.resume();
  return {
    port, url: `redis://127.0.0.1:${port}`, proc,
    kill: () => new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) { resolve(); return; }
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    }),
  };
}
