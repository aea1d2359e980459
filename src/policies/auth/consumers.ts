// Consumers and their API keys, compiled once per config. Keys are kept as SHA-256
// digests (plain keys in the config are hashed at load), so a lookup hashes the presented
// key and looks its digest up: the work does not depend on how much of a key matches, and
// how much of a digest matches tells a client nothing it could use to build a key.
import * as crypto from 'node:crypto';
import type { ConsumerConfig } from '../../config/types.js';

export interface Consumer {
  readonly id: string;
  readonly plan: string | undefined;
  readonly groups: readonly string[];
  readonly tenant: string | undefined;
}

export class ConsumerRegistry {
  private readonly byDigest = new Map<string, Consumer>();
  private readonly ids = new Map<string, Consumer>();

  constructor(configs: ConsumerConfig[]) {
    for (const c of configs) {
      const consumer: Consumer = Object.freeze({ id: c.id, plan: c.plan, groups: Object.freeze([...c.groups]), tenant: c.tenant });
      this.ids.set(c.id, consumer);
      for (const k of c.keys) {
        this.byDigest.set('key' in k ? sha256Hex(k.key) : k.sha256.toLowerCase(), consumer);
      }
    }
  }

  byId(id: string): Consumer | undefined {
    return this.ids.get(id);
  }

  /** The consumer owning this API key, or null. */
  byKey(key: string): Consumer | null {
    return this.byDigest.get(sha256Hex(key)) ?? null;
  }
}

/** Hex SHA-256 of a string's UTF-8. Node 20.12+'s one-shot `crypto.hash` costs ~0.3 µs for
 * an API key against ~1.4 µs for createHash → update → digest → hex (~4.5 µs of a policy
 * route's request in the profile, docs/benchmarks.md); older Node 20s take the long way. */
export const sha256Hex: (s: string) => string = typeof crypto.hash === 'function'
  ? (s) => crypto.hash('sha256', s, 'hex')
  : (s) => crypto.createHash('sha256').update(s).digest('hex');
