// An aggregate's backends compiled for the front thread: parsed placeholders, the DAG
// (`after` as indices, each backend's dependents), and which fields of each step its
// dependents read. Built once at load; the config check reports what does not compile.
import type { AggregateBackendConfig, AggregateConfig } from '../config/types.js';
import { compileJson, parseTemplate, placeholdersOf, pointerPath, type JsonTemplate, type Part, type Placeholder } from './placeholder.js';

export interface BackendPlan {
  readonly index: number;
  readonly config: AggregateBackendConfig;
  /** HTTP: the path template; gRPC: null */
  readonly path: readonly Part[] | null;
  /** gRPC: the request message template */
  readonly request: JsonTemplate | null;
  /** indices of the backends this one waits for */
  readonly after: readonly number[];
  /** indices of the backends waiting for this one */
  readonly dependents: readonly number[];
  /** fields of this backend's result its dependents read ({steps.NAME.a.b} → [a, b]) */
  readonly picked: ReadonlyArray<readonly string[]>;
  /** the client body's part this backend sends (null: the whole body; undefined: none) */
  readonly bodyPointer: readonly string[] | null | undefined;
  readonly placeholders: readonly Placeholder[];
}

export interface AggregatePlan {
  readonly backends: readonly BackendPlan[];
  /** backends with no `after`: started at once */
  readonly roots: readonly number[];
  /** some backend sends (part of) the client's body */
  readonly readsBody: boolean;
  /** the client body's parts backends send, by pointer */
  readonly pointers: ReadonlyArray<readonly string[]>;
}

/** Compiles `a`; problems (with `at`) are reported for what does not parse or resolve. */
export function planOf(a: AggregateConfig, problems: string[] = [], at = 'aggregate'): AggregatePlan {
  const index = new Map<string, number>();
  a.backends.forEach((b, i) => {
    if (index.has(b.name)) problems.push(`${at}.backends[${i}].name: duplicate backend name "${b.name}" (also backends[${index.get(b.name)}])`);
    else index.set(b.name, i);
  });
  const dependents: number[][] = a.backends.map(() => []);
  const picked: string[][][] = a.backends.map(() => []);
  const pointers: string[][] = [];
  const partial = a.backends.map((b, i) => {
    const where = `${at}.backends[${i}]`;
    let path: Part[] | null = null;
    let request: JsonTemplate | null = null;
    if (b.path !== undefined) {
      const p = parseTemplate(b.path);
      if ('error' in p) problems.push(`${where}.path: ${p.error}`);
      else path = p;
    }
    if (b.grpc) request = compileJson(b.grpc.request ?? {}, problems, `${where}.grpc.request`);
    const after: number[] = [];
    b.after.forEach((n, j) => {
      const k = index.get(n);
      if (k === undefined) problems.push(`${where}.after[${j}]: unknown backend "${n}"`);
      else if (k === i) problems.push(`${where}.after[${j}]: a backend cannot wait for itself`);
      else { after.push(k); dependents[k]!.push(i); }
    });
    const placeholders = [...(path ? placeholdersOf(path) : []), ...(request ? placeholdersOf(request) : [])];
    for (const p of placeholders) {
      if (p.source !== 'steps') continue;
      const k = index.get(p.key);
      if (k !== undefined && !picked[k]!.some((q) => q.join('.') === p.path.join('.'))) picked[k]!.push([...p.path]);
    }
    let bodyPointer: string[] | null | undefined;
    if (b.body === true) bodyPointer = null;
    else if (typeof b.body === 'string') { bodyPointer = pointerPath(b.body); pointers.push(bodyPointer); }
    return { index: i, config: b, path, request, after, placeholders, bodyPointer };
  });
  const backends = partial.map((p, i) => Object.freeze({ ...p, dependents: dependents[i]!, picked: picked[i]! }));
  return Object.freeze({
    backends,
    roots: backends.filter((b) => b.after.length === 0).map((b) => b.index),
    readsBody: backends.some((b) => b.bodyPointer !== undefined),
    pointers,
  });
}

/** Backends `i` waits for, directly or through others (for {steps.NAME} checks). */
export function ancestorsOf(plan: AggregatePlan, i: number): Set<number> {
  const seen = new Set<number>();
  const walk = (k: number) => { for (const a of plan.backends[k]!.after) if (!seen.has(a)) { seen.add(a); walk(a); } };
  walk(i);
  return seen;
}

/** A cycle in `after`, as backend names (null: none). */
export function cycleOf(plan: AggregatePlan): string[] | null {
  const state = plan.backends.map(() => 0); // 0 new, 1 on the stack, 2 done
  const stack: number[] = [];
  const visit = (i: number): string[] | null => {
    state[i] = 1;
    stack.push(i);
    for (const a of plan.backends[i]!.after) {
      if (state[a] === 1) return [...stack.slice(stack.indexOf(a)), a].map((k) => plan.backends[k]!.config.name);
      if (state[a] === 0) { const c = visit(a); if (c) return c; }
    }
    stack.pop();
    state[i] = 2;
    return null;
  };
  for (let i = 0; i < plan.backends.length; i++) if (state[i] === 0) { const c = visit(i); if (c) return c; }
  return null;
}
