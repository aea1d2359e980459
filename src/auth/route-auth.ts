// Authentication and authorization of a route: any one of its authenticators must
// identify a consumer (API key in a header or a query parameter), then `allow` must
// admit that consumer (by id or group).
import type { ApiKeyAuthConfig, RouteConfig } from '../config/types.js';
import type { RequestHead } from '../server/types.js';
import { findHeader } from '../proxy/request-headers.js';
import type { Consumer, ConsumerRegistry } from './consumers.js';

export type AuthResult =
  | { kind: 'ok'; consumer: Consumer }
  | { kind: 'missing'; challenge: string }
  | { kind: 'invalid' }
  | { kind: 'forbidden'; consumer: Consumer };

interface ApiKeySource { header: string; query: string | undefined }

export class RouteAuth {
  private readonly sources: ApiKeySource[];
  private readonly allowConsumers: ReadonlySet<string> | null;
  private readonly allowGroups: ReadonlySet<string> | null;
  private readonly challenge: string;

  constructor(route: RouteConfig, authenticators: Record<string, ApiKeyAuthConfig>, private readonly registry: ConsumerRegistry) {
    this.sources = (route.auth ?? []).map((name) => ({ header: authenticators[name]!.header.toLowerCase(), query: authenticators[name]!.query }));
    this.allowConsumers = route.allow?.consumers ? new Set(route.allow.consumers) : null;
    this.allowGroups = route.allow?.groups ? new Set(route.allow.groups) : null;
    this.challenge = `ApiKey realm="edge-gateway", header="${this.sources[0]?.header ?? 'x-api-key'}"`;
  }

  check(head: RequestHead, query: () => URLSearchParams): AuthResult {
    let presented = false;
    let consumer: Consumer | null = null;
    for (const src of this.sources) {
      const key = findHeader(head.rawHeaders, src.header) ?? (src.query ? query().get(src.query) ?? undefined : undefined);
      if (key === undefined || key === '') continue;
      presented = true;
      consumer = this.registry.byKey(key);
      if (consumer) break;
    }
    if (!consumer) return presented ? { kind: 'invalid' } : { kind: 'missing', challenge: this.challenge };
    if (this.allowConsumers || this.allowGroups) {
      const ok = (this.allowConsumers?.has(consumer.id) ?? false) || consumer.groups.some((g) => this.allowGroups?.has(g) ?? false);
      if (!ok) return { kind: 'forbidden', consumer };
    }
    return { kind: 'ok', consumer };
  }
}
