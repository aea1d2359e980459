// The route table: a segment tree per host, compiled once per config. Matching walks
// the request path segment by segment, so its cost depends on the path's depth, not
// on the number of routes. Precedence: static > param > wildcard (with backtracking),
// exact host > wildcard host (longest suffix first) > any host; among routes ending
// at the same node, routes with more predicates come first, then config order.
import { parsePathPattern, prefixToPattern } from './path-pattern.js';
import type { Predicate } from './predicates.js';

export interface Routable {
  /** Upper-case methods, or null for any method. */
  readonly methods: ReadonlySet<string> | null;
  readonly headerPredicates: readonly Predicate[];
  readonly queryPredicates: readonly Predicate[];
  /** Parameter names by their segment index in the pattern. */
  readonly paramNames: readonly string[];
}

export interface RouteSpec<R> { route: R; hosts: string[] | null; path: string }

/** What the router needs to read from a request. */
export interface MatchInput {
  method: string;
  host: string;
  path: string;
  header(name: string): string | undefined;
  queryParam(name: string): string | undefined;
}

export type MatchResult<R> =
  | { kind: 'route'; route: R; params: Record<string, string>; wildcard: string | null }
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'not-found' };

class Node<R> {
  statics: Map<string, Node<R>> | null = null;
  param: Node<R> | null = null;
  /** Routes whose pattern ends at this node. */
  exact: R[] | null = null;
  /** Routes whose pattern is this node followed by `*`. */
  wildcard: R[] | null = null;
}

interface Tree<R> { root: Node<R> }

function predicateCount(r: Routable): number {
  return r.headerPredicates.length + r.queryPredicates.length + (r.methods ? 1 : 0);
}

function insert<R extends Routable>(tree: Tree<R>, path: string, route: R): void {
  let node = tree.root;
  for (const seg of parsePathPattern(path)) {
    if (seg.kind === 'wildcard') {
      (node.wildcard ??= []).push(route);
      return;
    }
    if (seg.kind === 'param') {
      node = node.param ??= new Node<R>();
    } else {
      node.statics ??= new Map();
      let next = node.statics.get(seg.value);
      if (!next) node.statics.set(seg.value, (next = new Node<R>()));
      node = next;
    }
  }
  (node.exact ??= []).push(route);
}

function sortTree<R extends Routable>(node: Node<R>, order: Map<R, number>): void {
  const cmp = (a: R, b: R) => predicateCount(b) - predicateCount(a) || order.get(a)! - order.get(b)!;
  node.exact?.sort(cmp);
  node.wildcard?.sort(cmp);
  node.statics?.forEach((n) => sortTree(n, order));
  if (node.param) sortTree(node.param, order);
}

export function paramNamesOf(pattern: string): string[] {
  const names: string[] = [];
  parsePathPattern(pattern).forEach((s, i) => { if (s.kind === 'param') names[i] = s.name; });
  return names;
}

export function patternOf(match: { path?: string; prefix?: string }): string {
  if (match.path !== undefined) return match.path;
  if (match.prefix !== undefined) return prefixToPattern(match.prefix);
  return '/*';
}

/** Per-match scratch state; one per match call, no per-segment allocation. */
interface Walk<R> {
  input: MatchInput;
  segs: string[];
  /** Methods seen on routes whose path and predicates matched, for 405. */
  allow: Set<string> | null;
  anyMethodSeen: boolean;
}

export class Router<R extends Routable> {
  private readonly exactHosts = new Map<string, Tree<R>>();
  private readonly suffixHosts: Array<{ suffix: string; tree: Tree<R> }> = [];
  private readonly anyHost: Tree<R> = { root: new Node<R>() };

  constructor(specs: RouteSpec<R>[]) {
    const order = new Map<R, number>();
    specs.forEach((s, i) => {
      order.set(s.route, i);
      if (!s.hosts) {
        insert(this.anyHost, s.path, s.route);
        return;
      }
      for (const rawHost of s.hosts) {
        const host = rawHost.toLowerCase();
        let tree: Tree<R> | undefined;
        if (host.startsWith('*.')) {
          const suffix = host.slice(1);
          tree = this.suffixHosts.find((h) => h.suffix === suffix)?.tree;
          if (!tree) this.suffixHosts.push({ suffix, tree: (tree = { root: new Node<R>() }) });
        } else {
          tree = this.exactHosts.get(host);
          if (!tree) this.exactHosts.set(host, (tree = { root: new Node<R>() }));
        }
        insert(tree, s.path, s.route);
      }
    });
    this.suffixHosts.sort((a, b) => b.suffix.length - a.suffix.length);
    for (const t of [this.anyHost, ...this.exactHosts.values(), ...this.suffixHosts.map((h) => h.tree)]) sortTree(t.root, order);
  }

  match(input: MatchInput): MatchResult<R> {
    const segs = input.path.split('/');
    const walk: Walk<R> = { input, segs, allow: null, anyMethodSeen: false };
    const values: string[] = [];
    const trees: Tree<R>[] = [];
    if (this.exactHosts.size || this.suffixHosts.length) {
      const host = input.host;
      const exact = this.exactHosts.get(host);
      if (exact) trees.push(exact);
      for (const h of this.suffixHosts) if (host.endsWith(h.suffix) && host.length > h.suffix.length) trees.push(h.tree);
    }
    trees.push(this.anyHost);
    for (const tree of trees) {
      const found = this.walk(tree.root, 1, walk, values);
      if (found) return found;
    }
    if (walk.allow) return { kind: 'method-not-allowed', allow: [...walk.allow].sort() };
    return { kind: 'not-found' };
  }

  private pick(routes: R[] | null, walk: Walk<R>): R | null {
    if (!routes) return null;
    const { input } = walk;
    for (const r of routes) {
      if (!predicatesPass(r, input)) continue;
      if (r.methods === null || r.methods.has(input.method)) return r;
      const allow = (walk.allow ??= new Set());
      for (const m of r.methods) allow.add(m);
    }
    return null;
  }

  private walk(node: Node<R>, i: number, walk: Walk<R>, values: string[]): MatchResult<R> | null {
    const segs = walk.segs;
    if (i === segs.length) {
      const r = this.pick(node.exact, walk) ?? this.pick(node.wildcard, walk);
      if (r) return { kind: 'route', route: r, params: toParams(r, values), wildcard: node.exact?.includes(r) ? null : '' };
      return null;
    }
    const seg = segs[i]!;
    const next = node.statics?.get(seg);
    if (next) {
      const found = this.walk(next, i + 1, walk, values);
      if (found) return found;
    }
    if (node.param && seg !== '') {
      values[i] = seg;
      const found = this.walk(node.param, i + 1, walk, values);
      if (found) return found;
      values[i] = '';
    }
    if (node.wildcard) {
      const r = this.pick(node.wildcard, walk);
      if (r) return { kind: 'route', route: r, params: toParams(r, values), wildcard: segs.slice(i).join('/') };
    }
    return null;
  }
}

function predicatesPass(r: Routable, input: MatchInput): boolean {
  for (const p of r.headerPredicates) if (!p.test(input.header(p.name))) return false;
  for (const p of r.queryPredicates) if (!p.test(input.queryParam(p.name))) return false;
  return true;
}

function toParams(r: Routable, values: string[]): Record<string, string> {
  const params: Record<string, string> = {};
  const names = r.paramNames;
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    if (name === undefined) continue;
    // Pattern index i is path segment i + 1 (the path starts with "/").
    params[name] = safeDecode(values[i + 1] ?? '');
  }
  return params;
}

function safeDecode(s: string): string {
  if (!s.includes('%')) return s;
  try { return decodeURIComponent(s); } catch { return s; }
}
