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

/**
 * Removes `.` and `..` segments (RFC 3986 5.2.4) so that `/public/../admin` cannot
 * slip past a prefix route. Only called when the path contains a dot segment.
 */
export function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segs = path.split('/');
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i]!;
    const last = i === segs.length - 1;
    if (s === '.' || s === '%2e' || s === '%2E') {
      if (last) out.push('');
    } else if (s === '..' || /^(\.|%2e){2}$/i.test(s)) {
      out.pop();
      if (last) out.push('');
    } else {
      out.push(s);
    }
  }
  return '/' + out.join('/');
}

export function hasDotSegment(path: string): boolean {
  return /\/(\.|%2e){1,2}(\/|$)/i.test(path);
}
