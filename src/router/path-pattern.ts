// Route path patterns: literal segments, `:param` segments and a trailing `*` wildcard.
export type Segment =
  | { kind: 'static'; value: string }
  | { kind: 'param'; name: string }
  | { kind: 'wildcard' };

/** Returns why a pattern is invalid, or undefined when it is fine. */
export function checkPathPattern(pattern: string): string | undefined {
  if (!pattern.startsWith('/')) return 'must start with "/"';
  const segs = pattern.split('/').slice(1);
  const names = new Set<string>();
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    if (s === '*') {
      if (i !== segs.length - 1) return '"*" is only allowed as the last segment';
    } else if (s.includes('*')) {
      return `segment "${s}": "*" must be a whole segment`;
    } else if (s.startsWith(':')) {
      const name = s.slice(1);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return `segment "${s}": parameter names are letters, digits and "_"`;
      if (names.has(name)) return `parameter ":${name}" appears twice`;
      names.add(name);
    } else if (s.includes('?') || s.includes('#')) {
      return `segment "${s}": a path pattern has no query or fragment`;
    }
  }
  return undefined;
}

export function parsePathPattern(pattern: string): Segment[] {
  return pattern.split('/').slice(1).map((s): Segment => {
    if (s === '*') return { kind: 'wildcard' };
    if (s.startsWith(':')) return { kind: 'param', name: s.slice(1) };
    return { kind: 'static', value: s };
  });
}

/** `prefix: /api` is the same as `path: /api/*` (which also matches `/api` itself). */
export function prefixToPattern(prefix: string): string {
  return prefix.endsWith('/') ? prefix + '*' : prefix + '/*';
}
