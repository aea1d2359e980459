// docs/config.md's reference tables, generated from the assembled JSON Schema (the schema is
// the contract: descriptions, defaults, bounds). `npm run docs:config` rewrites the part of
// docs/config.md between the markers; test/config-docs.test.ts fails when it is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { JsonSchema } from '../pipeline/policy.js';
import { ERRORS } from '../errors.js';

export const START = '<!-- reference:start (generated from the schema by `npm run docs:config`; edit the schema, not this) -->';
export const END = '<!-- reference:end -->';
export const ERRORS_START = '<!-- errors:start (generated from src/errors.ts by `npm run docs:config`) -->';
export const ERRORS_END = '<!-- errors:end -->';

type S = JsonSchema & {
  type?: string | string[]; enum?: unknown[]; discriminator?: unknown; const?: unknown; default?: unknown; description?: string;
  properties?: Record<string, S>; additionalProperties?: S | boolean; items?: S; oneOf?: S[]; required?: string[];
  minimum?: number; maximum?: number; exclusiveMinimum?: number; minItems?: number; maxItems?: number; minLength?: number; maxLength?: number; pattern?: string;
};

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function bounds(s: S): string {
  const lo = s.minimum ?? (s.exclusiveMinimum !== undefined ? `>${s.exclusiveMinimum}` : undefined);
  const hi = s.maximum;
  if (lo === undefined && hi === undefined) return '';
  if (hi === undefined) return ` ≥ ${lo}`;
  if (lo === undefined) return ` ≤ ${hi}`;
  return ` ${lo}–${hi}`;
}

function typeOf(s: S): string {
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.enum) return s.enum.map((v) => '`' + (typeof v === 'string' ? v : JSON.stringify(v)) + '`').join(' | ');
  if (s.oneOf && s.discriminator) return 'one of the kinds below';
  if (s.oneOf) return s.oneOf.map(typeOf).join(' | ');
  const t = Array.isArray(s.type) ? s.type.join(' | ') : s.type;
  if (t === 'array') return `list of ${s.items ? typeOf(s.items) : 'any'}${s.maxItems !== undefined ? ` (≤ ${s.maxItems})` : ''}`;
  if (t === 'object' && !s.properties && s.additionalProperties && typeof s.additionalProperties === 'object') return `map of ${typeOf(s.additionalProperties)}`;
  if (t === 'integer' || t === 'number') return `${t}${bounds(s)}`;
  if (t === 'string' && s.pattern && s.pattern.length <= 24) return `string \`${s.pattern}\``;
  return t ?? 'any';
}

function defaultOf(s: S, required: boolean): string {
  if (required) return 'required';
  if (s.default === undefined) return '–';
  if (typeof s.default === 'object' && s.default !== null && Object.keys(s.default).length === 0 && !Array.isArray(s.default)) return '`{}`';
  const text = JSON.stringify(s.default);
  return text.length > 40 ? 'see description' : `\`${text}\``;
}

interface Row { key: string; type: string; def: string; text: string }

/** Rows for `s`'s properties (recursing into objects, lists of objects and maps of objects). */
function rows(s: S, prefix: string, out: Row[]): void {
  const req = new Set(s.required ?? []);
  for (const [name, p] of Object.entries(s.properties ?? {})) {
    const key = prefix + name;
    out.push({ key, type: typeOf(p), def: defaultOf(p, req.has(name)), text: p.description ?? '' });
    const map = !p.properties && p.additionalProperties && typeof p.additionalProperties === 'object' ? p.additionalProperties : null;
    if (p.properties) rows(p, `${key}.`, out);
    else if (p.items?.properties) rows(p.items, `${key}[].`, out);
    else if (map?.properties) rows(map, `${key}.NAME.`, out);
  }
}

function table(list: Row[]): string {
  return ['| key | type | default | meaning |', '|---|---|---|---|', ...list.map((r) => `| \`${r.key}\` | ${cell(r.type)} | ${cell(r.def)} | ${cell(r.text)} |`)].join('\n');
}

/** Sections whose rows would drown the top-level table get their own heading. */
function isSection(p: S): boolean {
  return !!(p.properties || p.items?.properties || (p.additionalProperties && typeof p.additionalProperties === 'object' && (p.additionalProperties.properties || p.additionalProperties.oneOf)));
}

export function renderReference(schema: JsonSchema): string {
  const root = schema as S;
  const top: Row[] = [];
  const sections: string[] = [];
  const req = new Set(root.required ?? []);
  for (const [name, p] of Object.entries(root.properties ?? {})) {
    top.push({ key: name, type: typeOf(p), def: defaultOf(p, req.has(name)), text: p.description ?? '' });
    if (!isSection(p)) continue;
    const list: Row[] = [];
    const map = !p.properties && p.additionalProperties && typeof p.additionalProperties === 'object' ? p.additionalProperties : null;
    let title = `\`${name}\``;
    if (p.properties) rows(p, '', list);
    else if (p.items?.properties) { title = `\`${name}[]\``; rows(p.items, '', list); }
    else if (map?.oneOf) {
      // one table per kind (auth.NAME by type)
      const parts = map.oneOf.map((k) => {
        const kind: Row[] = [];
        rows(k, '', kind);
        return `### \`${name}.NAME\` with \`type: ${String((k.properties?.type as S | undefined)?.const)}\`\n\n${table(kind)}`;
      });
      sections.push(`## \`${name}.NAME\`\n\n${cell(p.description ?? '')}\n\n${parts.join('\n\n')}`);
      continue;
    } else if (map) { title = `\`${name}.NAME\``; rows(map, '', list); }
    sections.push(`## ${title}\n\n${p.description ? cell(p.description) + '\n\n' : ''}${table(list)}`);
  }
  return [`## Top level\n\n${table(top)}`, ...sections].join('\n\n');
}

/** The error table: every code the gateway answers with, from the one table in src/errors.ts. */
export function renderErrors(): string {
  const rows = Object.entries(ERRORS).sort(([, a], [, b]) => a.status - b.status)
    .map(([code, e]) => `| ${e.status} | \`${code}\` | ${e.source} | ${e.retryable ? 'yes' : 'no'} | ${cell(e.when)} |`);
  return ['| status | code | source | retryable | when |', '|---|---|---|---|---|', ...rows].join('\n');
}

function replaceBetween(doc: string, start: string, end: string, text: string): string {
  const a = doc.indexOf(start);
  const b = doc.indexOf(end);
  if (a < 0 || b < a) throw new Error(`the doc has no ${start} … ${end} markers`);
  return `${doc.slice(0, a + start.length)}\n\n${text}\n\n${doc.slice(b)}`;
}

/** The doc text with its generated parts replaced (the error table too, where it has its markers). */
export function withReference(doc: string, reference: string): string {
  const out = replaceBetween(doc, START, END, reference);
  return out.includes(ERRORS_START) ? replaceBetween(out, ERRORS_START, ERRORS_END, renderErrors()) : out;
}

// node dist/src/config/reference-doc.js docs/config.md: rewrite the generated part
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2] ?? 'docs/config.md';
  const { configSchema } = await import('./load.js');
  writeFileSync(file, withReference(readFileSync(file, 'utf8'), renderReference(configSchema())));
  process.stdout.write(`${file}: reference regenerated\n`);
}
