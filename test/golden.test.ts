// Golden tests: each example config (examples/*.yaml) in, its normalised config out
// (defaults filled, files resolved, shorthands folded), pinned in test/golden/*.json.
// A change of defaults or normalisation shows up here as a diff. UPDATE_GOLDEN=1 rewrites.
import t from 'tap';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigFile } from '../src/config/load.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const EXAMPLES = join(ROOT, 'examples');

const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')).sort();
t.ok(files.length >= 3, 'there are examples');
for (const f of files) {
  t.test(f, async (t) => {
    const normalised = JSON.stringify(loadConfigFile(join(EXAMPLES, f)), null, 2).replaceAll(ROOT, '<repo>') + '\n';
    const golden = join(ROOT, 'test', 'golden', f.replace(/\.yaml$/, '.json'));
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, normalised);
    t.equal(normalised, readFileSync(golden, 'utf8'), `${f} normalises as pinned (UPDATE_GOLDEN=1 npm test rewrites)`);
  });
}
