// Spawning benchmark processes pinned to a core, waiting for their {"port"} line, and
// reading their CPU time from /proc.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';

export const HAS_TASKSET = spawnSync('taskset', ['-V']).status === 0;

/** This process's CPU time so far (all its threads), in µs. */
export function processCpuUs(): number {
  const c = process.cpuUsage();
  return c.user + c.system;
}

export function pinned(core: number | null, cmd: string, args: string[]): [string, string[]] {
  return core === null || !HAS_TASKSET ? [cmd, args] : ['taskset', ['-c', String(core), cmd, ...args]];
}

export interface Proc { child: ChildProcess; port: number; stop(): Promise<void> }

export async function startProc(core: number | null, cmd: string, args: string[], env: Record<string, string> = {}, portFromLine = /"port":\s*(\d+)/): Promise<Proc> {
  const [c, a] = pinned(core, cmd, args);
  const child = spawn(c, a, { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} ${args.join(' ')} did not start:\n${out}`)), 15_000);
    const onData = (d: Buffer) => {
      out += d;
      const m = portFromLine.exec(out);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => { out += d; });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${cmd} exited with ${code}:\n${out}`)); });
  });
  child.stdout!.resume();
  return {
    child,
    port,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) { resolve(); return; }
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 3000).unref();
    }),
  };
}

/** utime + stime of a process and its direct children, in seconds. */
export function cpuSeconds(pid: number): number {
  const one = (p: number) => {
    const f = `/proc/${p}/stat`;
    if (!existsSync(f)) return 0;
    const fields = readFileSync(f, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  };
  let total = one(pid);
  const kids = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
  for (const k of kids) total += cpuSeconds(k);
  return total;
}
