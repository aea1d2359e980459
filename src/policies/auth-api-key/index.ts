// auth-api-key: an API key in a header or a query parameter, owned by a consumer.
import type { ApiKeyAuthConfig } from '../../config/types.js';
import type { AuthenticatorKind } from '../auth/identity.js';
import { ApiKeyAuthenticator } from './api-key-auth.js';

export const apiKeyAuth: AuthenticatorKind = {
  type: 'api-key',
  summary: 'API keys of consumers (stored as SHA-256 digests, compared in constant time).',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['type'],
    properties: {
      type: { const: 'api-key', description: 'An API-key authenticator.' },
      header: { type: 'string', minLength: 1, maxLength: 256, default: 'x-api-key', description: 'Request header that carries the key.' },
      query: { type: 'string', minLength: 1, maxLength: 256, description: 'Query parameter that may carry the key instead.' },
      hideCredentials: { type: 'boolean', default: true, description: 'Remove the credential from the query string or cookie before forwarding (a header credential is forwarded; remove it with requestHeaders).' },
    },
  },
  create: (_name, cfg, consumers) => new ApiKeyAuthenticator(cfg as unknown as ApiKeyAuthConfig, consumers),
};
