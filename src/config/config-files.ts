// The files a config names (certificates, keys, protos, schemas, token files), found
// relative to the config's directory, and confined to it for configs sent over the admin API.
import { readFileSync, realpathSync } from 'node:fs';
import { resolve as resolvePath, sep } from 'node:path';

/**
 * Where the files a config names are found: relative to the config's directory. A config
 * that came over the admin API (`confine`) may only name files inside that directory
 * (after following links): it must not read /etc/shadow through tls.caFile or a $ref.
 */
export class ConfigFiles {
  private readonly root: string;
  constructor(readonly baseDir: string, readonly confined: boolean) {
    let root = resolvePath(baseDir);
    try { root = realpathSync(root); } catch { /* reported when a file is read */ }
    this.root = root;
  }

  /** The absolute path of `file`, or null (and a problem at `at`) when it is outside the config directory. */
  path(file: string, at: string, problems: string[]): string | null {
    const path = resolvePath(this.baseDir, file);
    if (!this.confined) return path;
    let real = path;
    try { real = realpathSync(path); } catch { /* a missing file is reported by the reader */ }
    if (real !== this.root && !real.startsWith(this.root + sep)) {
      problems.push(`${at}: "${file}" is outside the config directory (a config sent to the admin API may only name files in ${this.root})`);
      return null;
    }
    return path;
  }

  /** Reads a file named in the config; on failure records the problem and returns null. */
  read(file: string, at: string, problems: string[]): { path: string; text: string } | null {
    const path = this.path(file, at, problems);
    if (path === null) return null;
    try { return { path, text: readFileSync(path, 'utf8') }; } catch (e) {
      problems.push(`${at}: cannot read "${file}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return null;
    }
  }
}

