// Starts the real gateway binary (dist/src/cli.js) as a child process on port 0 and
// waits for its "listening" log line.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const BENCH_COPY = `${sep}bench${sep}dist${sep}`;
/** The gateway's dist/src/cli.js: beside this helper in dist/, or the repository's when bench/
 *  compiled its own copy of the helper (its copy of src/ resolves bench's node_modules). */
export const CLI = here.includes(BENCH_COPY)
  ? join(here.slice(0, here.indexOf(BENCH_COPY)), 'dist', 'src', 'cli.js')
  : join(here, '..', '..', 'src', 'cli.js');
export const ENGINES = ['uws', 'node'] as const;
export type EngineName = (typeof ENGINES)[number];

export interface GatewayProcess {
  proc: ChildProcess;
  port: number;
  adminPort: number;
  url: string;
  adminUrl: string;
  configFile: string;
  /** the whole "listening" log line */
  info: Record<string, unknown>;
  output(): string;
  rssBytes(): number;
  /** SIGTERM and wait for exit; resolves the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** `args`: more command-line arguments (e.g. --policy FILE). */
export async function startGatewayProcess(config: Record<string, unknown>, engine: EngineName, env: Record<string, string> = {}, args: string[] = []): Promise<GatewayProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-test-'));
  const configFile = join(dir, 'gateway.yaml');
  const full = {
    // One front-end thread unless a test asks for more: per-thread state (breakers, outlier
    // ejection, pools) is then the whole gateway's, as those tests assume.
    threads: 1,
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    ...config,
    engine,
  };
  writeFileSync(configFile, stringify(full));
  return spawnGateway(process.execPath, [CLI, '--config', configFile, ...args], { env: { ...process.env, LOG_LEVEL: 'info', ...env }, engine, configFile });
}

export interface SpawnOptions {
  /** the whole environment of the process */
  env: Record<string, string | undefined>;
  /** the engine the gateway must report in its "listening" line */
  engine: EngineName;
  configFile?: string;
  cwd?: string;
  /** the process's argv[0] (what `ps` and `pkill -f` see) */
  argv0?: string;
}

/** Runs `command args` (the CLI under node, or the single executable) and waits for "listening". */
export async function spawnGateway(command: string, args: string[], o: SpawnOptions): Promise<GatewayProcess> {
  const { engine } = o;
  const proc = spawn(command, args, { env: o.env, cwd: o.cwd, argv0: o.argv0, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const ready = await new Promise<{ port: number; adminPort: number } & Record<string, unknown>>((resolve, reject) => {
    // 30 s: a loaded CI machine starting several threads and a worker pool is slow, and a
    // gateway that never says "listening" is killed so that it cannot hold the test file open.
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`gateway did not start in 30 s:\n${out}`)); }, 30_000);
    const check = () => {
      for (const line of out.split('\n')) {
        if (!line.includes('"listening"')) continue;
        const msg = JSON.parse(line) as { port: number; adminPort: number } & Record<string, unknown>;
        clearTimeout(timer);
        // The engine under test must be the one that answers (a silent fallback would test the other).
        if (msg.engine !== engine) { proc.kill('SIGKILL'); reject(new Error(`asked for the ${engine} engine, the gateway runs ${String(msg.engine)}`)); return; }
        resolve(msg);
        return;
      }
    };
    proc.stdout!.on('data', check);
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`gateway exited with ${code}:\n${out}`)); });
  });
  return {
    proc,
    port: ready.port,
    adminPort: ready.adminPort,
    url: `http://127.0.0.1:${ready.port}`,
    adminUrl: `http://127.0.0.1:${ready.adminPort}`,
    configFile: o.configFile ?? '',
    info: ready,
    output: () => out,
    rssBytes: () => {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : 0;
    },
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}
