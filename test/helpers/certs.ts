// Test certificates made with the openssl CLI: a throwaway CA and leaf certificates for
// the given DNS names (EC P-256, valid two days), in a fresh temp directory.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCerts {
  dir: string;
  caFile: string;
  ca: string;
  /** name → { cert, key } file paths */
  leaf: Record<string, { cert: string; key: string }>;
}

/** `rsa`: an RSA-2048 leaf (static-RSA suites need one to be offered at all); else EC P-256. */
export function makeCerts(names: Array<{ name: string; san: string; rsa?: boolean }>): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'gw-certs-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=edge-gateway test CA');
  const leaf: TestCerts['leaf'] = {};
  for (const { name, san, rsa } of names) {
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
    run('req', ...(rsa ? ['-newkey', 'rsa:2048', '-nodes'] : ec), '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
    leaf[name] = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  }
  const caFile = join(dir, 'ca.pem');
  return { dir, caFile, ca: readFileSync(caFile, 'utf8'), leaf };
}
