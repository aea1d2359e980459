// The schema is the contract: docs/config.md's reference tables are generated from it, every
// field has a description and numbers have bounds, and the TypeScript config types have
// exactly the schema's keys (checked with the TypeScript compiler on src/config/types.ts).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { configSchema } from '../src/config/load.js';
import { END, START, renderReference, withReference } from '../src/config/reference-doc.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
type S = Record<string, any>;

t.test('docs/config.md carries the reference generated from the schema', async (t) => {
  const doc = readFileSync(join(ROOT, 'docs', 'config.md'), 'utf8');
  t.ok(doc.includes(START) && doc.includes(END), 'the markers are there');
  t.equal(doc, withReference(doc, renderReference(configSchema())), 'up to date (run npm run docs:config)');
});

/** Every property of the schema, with its path. */
function* walk(s: S, path: string): Generator<[string, S]> {
  for (const [k, p] of Object.entries<S>(s.properties ?? {})) {
    yield [`${path}${k}`, p];
    yield* walk(p, `${path}${k}.`);
    if (p.items) yield* walk(p.items, `${path}${k}[].`);
    if (p.additionalProperties && typeof p.additionalProperties === 'object') {
      yield* walk(p.additionalProperties, `${path}${k}.NAME.`);
      for (const [i, o] of (p.additionalProperties.oneOf ?? []).entries()) yield* walk(o, `${path}${k}.NAME(${i}).`);
    }
  }
}

t.test('every field has a description; every number has a lower bound', async (t) => {
  const undocumented: string[] = [];
  const unbounded: string[] = [];
  for (const [path, p] of walk(configSchema(), '')) {
    if (!p.description) undocumented.push(path);
    if ((p.type === 'integer' || p.type === 'number') && p.minimum === undefined && p.exclusiveMinimum === undefined) unbounded.push(path);
  }
  t.same(undocumented, [], 'fields without a description');
  t.same(unbounded, [], 'numbers without a minimum');
});

/** Keys the loader adds to the normalised config (not in the file), by path. */
const ADDED_AT_LOAD = new Set(['upstreams.NAME.tls.ca', 'upstreams.NAME.protos.descriptors']);

t.test('the TypeScript config types have the schema\'s keys', async (t) => {
  const file = join(ROOT, 'src', 'config', 'types.ts');
  const program = ts.createProgram([file], { strict: true, noEmit: true, skipLibCheck: true, types: [] });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file)!;
  let root: ts.Type | undefined;
  ts.forEachChild(source, (n) => { if (ts.isInterfaceDeclaration(n) && n.name.text === 'GatewayConfig') root = checker.getTypeAtLocation(n); });
  t.ok(root, 'GatewayConfig found');
  const problems: string[] = [];
  const strip = (ty: ts.Type) => checker.getNonNullableType(ty);
  const objectParts = (ty: ts.Type): ts.Type[] => (ty.isUnion() ? ty.types : [ty]).filter((x) => (x.flags & ts.TypeFlags.Object) !== 0);
  const compare = (schema: S, ty: ts.Type, path: string) => {
    ty = strip(ty);
    if (schema.properties) {
      const parts = objectParts(ty).filter((x) => !checker.isArrayType(x));
      const tsKeys = new Set(parts.flatMap((x) => checker.getPropertiesOfType(x).map((p) => p.name)));
      for (const k of Object.keys(schema.properties)) {
        if (!tsKeys.has(k)) { problems.push(`${path}${k}: in the schema, not in types.ts`); continue; }
        const prop = parts.map((x) => x.getProperty(k)).find(Boolean)!;
        compare(schema.properties[k], checker.getTypeOfSymbol(prop), `${path}${k}.`);
      }
      for (const k of tsKeys) if (!(k in schema.properties) && !ADDED_AT_LOAD.has(`${path}${k}`)) problems.push(`${path}${k}: in types.ts, not in the schema`);
    } else if (schema.items?.properties) {
      const arr = objectParts(ty).find((x) => checker.isArrayType(x));
      if (!arr) { problems.push(`${path}: a list in the schema, not in types.ts`); return; }
      compare(schema.items, checker.getTypeArguments(arr as ts.TypeReference)[0]!, path.replace(/\.$/, '[].'));
    } else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
      const value = checker.getIndexInfoOfType(ty, ts.IndexKind.String)?.type;
      if (!value) { problems.push(`${path}: a map in the schema, not in types.ts`); return; }
      const a = schema.additionalProperties;
      if (a.oneOf && a.discriminator) {
        // one TS union member per kind, told apart by `type`
        const members = strip(value).isUnion() ? (strip(value) as ts.UnionType).types : [strip(value)];
        for (const kind of a.oneOf as S[]) {
          const tag = kind.properties?.type?.const;
          const member = members.find((m) => { const p = m.getProperty('type'); return p && checker.typeToString(checker.getTypeOfSymbol(p)) === JSON.stringify(tag); });
          if (!member) problems.push(`${path}NAME: no type in types.ts for type "${tag}"`);
          else compare(kind, member, `${path}NAME.`);
        }
      } else if (a.properties) compare(a, value, `${path}NAME.`);
    }
  };
  compare(configSchema(), root!, '');
  t.same(problems, [], 'schema and types.ts agree');
});
