// Header and query predicates of `match.headers` / `match.query`, compiled once.
import type { ValueMatcher } from '../config/types.js';

export type ValueTest = (value: string | undefined) => boolean;

export function compileMatcher(m: ValueMatcher): ValueTest {
  if (typeof m === 'string') return (v) => v === m;
  if ('regex' in m) {
    const re = new RegExp(m.regex);
    return (v) => v !== undefined && re.test(v);
  }
  const want = m.present;
  return (v) => (v !== undefined) === want;
}

export interface Predicate { name: string; test: ValueTest }

export function compilePredicates(spec: Record<string, ValueMatcher> | undefined, lowerNames: boolean): Predicate[] {
  return Object.entries(spec ?? {}).map(([name, m]) => ({ name: lowerNames ? name.toLowerCase() : name, test: compileMatcher(m) }));
}
