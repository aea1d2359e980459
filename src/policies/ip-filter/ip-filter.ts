// IP allow/deny lists by CIDR (IPv4 and IPv6), compiled once per config.
import type { BlockList } from 'node:net';
import { blockListOf, contains } from '../../proxy/client-address.js';

export interface IpFilterConfig { allow?: string[]; deny?: string[] }

export class IpFilter {
  private readonly allow: BlockList | null;
  private readonly deny: BlockList | null;

  constructor(spec: IpFilterConfig) {
    this.allow = spec.allow?.length ? blockListOf(spec.allow) : null;
    this.deny = spec.deny?.length ? blockListOf(spec.deny) : null;
  }

  /** Deny wins; with an allow list, only listed addresses pass. */
  permits(ip: string): boolean {
    if (this.deny && contains(this.deny, ip)) return false;
    if (this.allow) return contains(this.allow, ip);
    return true;
  }
}
