// API keys from a header or a query parameter, looked up in the consumer registry by
// their SHA-256 digest (src/policies/auth/consumers.ts).
import type { ApiKeyAuthConfig } from '../../config/types.js';
import type { RequestHead } from '../../server/types.js';
import { findHeader } from '../../proxy/request-headers.js';
import type { ConsumerRegistry } from '../auth/consumers.js';
import type { Authenticator, Identity, Verdict } from '../auth/identity.js';

export class ApiKeyAuthenticator implements Authenticator {
  readonly challenge: string;
  private readonly header: string;
  private readonly query: string | undefined;
  private readonly rejection: Verdict;
  readonly hidden: { query?: string } | undefined;
  /** one frozen Identity per consumer: nothing is allocated per request */
  private readonly identities = new Map<string, Identity>();

  constructor(cfg: ApiKeyAuthConfig, private readonly registry: ConsumerRegistry) {
    this.header = cfg.header.toLowerCase();
    this.query = cfg.query;
    this.hidden = cfg.hideCredentials && cfg.query ? { query: cfg.query } : undefined;
    this.challenge = `ApiKey realm="edge-gateway", header="${this.header}"`;
    this.rejection = Object.freeze({ invalid: 'unknown API key', challenge: this.challenge });
  }

  authenticate(head: RequestHead, query: () => URLSearchParams): Verdict {
    const key = findHeader(head.rawHeaders, this.header) ?? (this.query ? query().get(this.query) ?? undefined : undefined);
    if (key === undefined || key === '') return 'absent';
    const consumer = this.registry.byKey(key);
    if (!consumer) return this.rejection;
    let id = this.identities.get(consumer.id);
    if (!id) this.identities.set(consumer.id, (id = Object.freeze({ consumer, scopes: [], headers: [] })));
    return id;
  }
}
