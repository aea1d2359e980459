// Settings shared by the scenario benchmarks (auth, ratelimit, transcode): where things
// are, --short, BENCH_SECONDS and the number of interleaved rounds.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/dist/bench: the compiled benchmark scripts (bench/ is its own package) */
export const here = dirname(fileURLToPath(import.meta.url));
/** the repository (the gateway's build is dist/src/cli.js there; results go to bench/results) */
export const root = join(here, '..', '..', '..');
export const short = process.argv.includes('--short');
export const seconds = Number(process.env.BENCH_SECONDS ?? (short ? 3 : 8));
export const rounds = short ? 1 : 2;
export const log = (s: string): void => { process.stderr.write(s + '\n'); };
