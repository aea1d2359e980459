// A bug in request handling must cost one request a 500, not the process.
import { randomUUID } from 'node:crypto';
import { ERRORS, errorBody } from '../errors.js';
import { log } from '../observability/logger.js';
import type { BodySource, RequestHandler, RequestHead, ResponseSink } from './types.js';

export function guarded(handler: RequestHandler): RequestHandler {
  return (head: RequestHead, body: BodySource | null, sink: ResponseSink) => {
    try {
      handler(head, body, sink);
    } catch (err) {
      log.error({ err, method: head.method, path: head.path }, 'request handler failed');
      const id = randomUUID();
      sink.sendFull(ERRORS.internal_error.status, ['content-type', 'application/json', 'x-request-id', id], errorBody('internal_error', 'internal error', id));
    }
  };
}
