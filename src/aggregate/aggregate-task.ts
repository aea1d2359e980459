// What an aggregate route sends the pool, and what comes back. The front thread calls the
// backends; the workers parse, filter, merge and serialise (compose), and read the fields a
// later step's placeholders need (pick). Backend bytes cross as transferred ArrayBuffers.

/** One backend's part of the composition, compiled at load (sent to the workers with the pool's configuration). */
export interface BackendSpec {
  readonly name: string;
  readonly required: boolean;
  readonly target: readonly string[] | null;
  readonly allow: ReadonlyArray<readonly string[]> | null;
  readonly deny: ReadonlyArray<readonly string[]> | null;
  readonly mapping: ReadonlyArray<readonly [string, string]> | null;
  readonly group: string | null;
  readonly isCollection: boolean;
  readonly raw: boolean;
  readonly hasFallback: boolean;
  readonly fallback: unknown;
}

export interface AggregateSpec {
  readonly merge: 'shallow' | 'deep' | 'concat';
  readonly errors: 'omit' | 'include';
  readonly backends: readonly BackendSpec[];
}

/** How one backend ended: its 2xx body, or a failure. */
export type Outcome =
  | { ok: true; body: ArrayBuffer }
  | {
    ok: false;
    /** the HTTP status this failure stands for: the backend's 4xx, or 400/502/503/504 */
    status: number;
    /** what X-Aggregate-Failed shows: the backend's status, a gRPC code name, "timeout", "skipped" */
    label: string;
    message: string;
    /** a 4xx answer of the backend, passed through when the backend is required */
    answer?: { headers: string[]; body: ArrayBuffer };
  };

export interface ComposeTask {
  kind: 'compose';
  gen: number;
  /** the route's name: its AggregateSpec in that generation */
  route: string;
  requestId: string;
  outcomes: Outcome[];
}

/** Reads `paths` out of a JSON body (after isCollection and target), for placeholders; the body comes back. */
export interface PickTask {
  kind: 'pick';
  body: ArrayBuffer;
  isCollection: boolean;
  target: readonly string[] | null;
  paths: ReadonlyArray<readonly string[]>;
}

export interface PickResult {
  /** the values, in the order of paths (undefined: absent) */
  values?: unknown[];
  /** the body is not JSON (or not the shape declared) */
  error?: string;
  body: ArrayBuffer;
}

/** The transfer list of an aggregate task. */
export function aggregateTransfers(task: ComposeTask | PickTask): ArrayBuffer[] {
  if (task.kind === 'pick') return [task.body];
  const list: ArrayBuffer[] = [];
  for (const o of task.outcomes) {
    if (o.ok) list.push(o.body);
    else if (o.answer) list.push(o.answer.body);
  }
  return list;
}
