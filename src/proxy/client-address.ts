// The client address as seen through trusted proxies, and the CIDR lists (node's
// BlockList) that say which proxies are trusted and which addresses a filter admits.
import { BlockList, isIP } from 'node:net';
import type { RequestHead } from '../server/types.js';

/** Validates a CIDR (or single address); returns why it is invalid, or undefined. */
export function checkCidr(cidr: string): string | undefined {
  const [addr, bits, extra] = cidr.split('/');
  const family = isIP(addr ?? '');
  if (!family || extra !== undefined) return `"${cidr}" is not an IP address or CIDR`;
  if (bits === undefined) return undefined;
  const n = Number(bits);
  if (!/^\d+$/.test(bits) || n > (family === 4 ? 32 : 128)) return `"${cidr}" has an invalid prefix length`;
  return undefined;
}

export function blockListOf(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const c of cidrs) {
    const [addr, bits] = c.split('/') as [string, string | undefined];
    const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return list;
}

export function normaliseIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

export function contains(list: BlockList, ip: string): boolean {
  const family = isIP(ip);
  return family !== 0 && list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * The client address: the peer, or — when the peer is a trusted proxy — the right-most
 * X-Forwarded-For entry that is not itself a trusted proxy.
 */
export function clientAddress(head: RequestHead, trusted: BlockList | null): string {
  const peer = normaliseIp(head.remoteAddress);
  if (!trusted || !contains(trusted, peer)) return peer;
  // Every X-Forwarded-For line, in order: a proxy appends its own line, so reading only the
  // first would believe whatever the client put in front of it.
  let xff = '';
  const raw = head.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (raw[i] === 'x-forwarded-for') xff = xff ? `${xff},${raw[i + 1]}` : raw[i + 1]!;
  if (!xff) return peer;
  const hops = xff.split(',').map((h) => normaliseIp(h.trim()));
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (!isIP(hop)) return peer; // a malformed chain is not trusted at all
    if (!contains(trusted, hop)) return hop;
  }
  return hops[0] ?? peer;
}

