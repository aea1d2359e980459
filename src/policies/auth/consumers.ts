// Consumers and their API keys, compiled once per config. Keys are kept as SHA-256
// digests (plain keys in the config are hashed at load), so a lookup hashes the presented
// key and compares digests: the work does not depend on how much of a key matches.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ConsumerConfig } from '../../config/types.js';

export interface Consumer {
  readonly id: string;
  readonly plan: string | undefined;
  readonly groups: readonly string[];
  readonly tenant: string | undefined;
}

export class ConsumerRegistry {
  private readonly byDigest = new Map<string, { consumer: Consumer; digest: Buffer }>();
  private readonly ids = new Map<string, Consumer>();

  constructor(configs: ConsumerConfig[]) {
    for (const c of configs) {
      const consumer: Consumer = Object.freeze({ id: c.id, plan: c.plan, groups: Object.freeze([...c.groups]), tenant: c.tenant });
      this.ids.set(c.id, consumer);
      for (const k of c.keys) {
        const hex = 'key' in k ? createHash('sha256').update(k.key).digest('hex') : k.sha256.toLowerCase();
        this.byDigest.set(hex, { consumer, digest: Buffer.from(hex, 'hex') });
      }
    }
  }

  byId(id: string): Consumer | undefined {
    return this.ids.get(id);
  }

  /** The consumer owning this API key, or null. */
  byKey(key: string): Consumer | null {
    const digest = createHash('sha256').update(key).digest();
    const hit = this.byDigest.get(digest.toString('hex'));
    if (!hit || !timingSafeEqual(hit.digest, digest)) return null;
    return hit.consumer;
  }
}
