// An aggregate's config, compiled for the pool: the composition rules per backend, and the
// binding a gRPC backend's call uses (its JSON request is the whole message, as a body "*").
import type protobuf from 'protobufjs';
import type { AggregateConfig } from '../config/types.js';
import type { TaskBinding } from '../transcode/task.js';
import { declaresIdempotent } from '../transcode/proto-registry.js';
import type { AggregateSpec } from './aggregate-task.js';

const split = (p: string) => p.split('.');

export function aggregateSpecOf(a: AggregateConfig): AggregateSpec {
  return {
    merge: a.merge,
    errors: a.errors,
    backends: a.backends.map((b) => ({
      name: b.name,
      required: b.required,
      target: b.target ? split(b.target) : null,
      allow: b.allow ? b.allow.map(split) : null,
      deny: b.deny ? b.deny.map(split) : null,
      mapping: b.mapping ? Object.entries(b.mapping) : null,
      group: b.group ?? null,
      isCollection: b.isCollection,
      raw: b.raw,
      hasFallback: b.fallback !== undefined,
      fallback: b.fallback ?? null,
    })),
  };
}

/** The method's binding for a backend call; throws when the protos have no such unary method. */
export function grpcBackendBinding(root: protobuf.Root, method: string): TaskBinding {
  const slash = method.lastIndexOf('/');
  const service = root.lookupService(method.slice(0, slash));
  const m = service.methods[method.slice(slash + 1)];
  if (!m) throw new Error(`service ${method.slice(0, slash)} has no method ${method.slice(slash + 1)}`);
  if (m.requestStream || m.responseStream) throw new Error(`${method} is a streaming method; aggregates call unary methods`);
  m.resolve();
  return {
    grpcPath: `/${method}`, httpMethod: 'AGGREGATE', template: '',
    requestType: m.resolvedRequestType!.fullName.slice(1), responseType: m.resolvedResponseType!.fullName.slice(1),
    body: '*', responseBody: '',
    // retried on UNAVAILABLE only when the proto says the method is idempotent
    idempotent: declaresIdempotent(m),
  };
}
