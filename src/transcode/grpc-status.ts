// gRPC status → HTTP: the status mapping of grpc-gateway / Envoy, and the google.rpc.Status
// JSON body with `details` decoded from grpc-status-details-bin.
import protobuf from 'protobufjs';
import { messageOut } from './json-codec.js';

/** gRPC code → HTTP status (google.rpc.Code mapping). */
export const HTTP_STATUS_OF: Record<number, number> = {
  0: 200, 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400,
  10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401,
};

/** gRPC code → its name (google.rpc.Code). */
export const GRPC_CODE_NAMES: readonly string[] = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

const statusRoot = protobuf.Root.fromJSON({
  nested: {
    google: {
      nested: {
        rpc: { nested: { Status: { fields: { code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 }, details: { rule: 'repeated', type: 'google.protobuf.Any', id: 3 } } } } },
        protobuf: { nested: { Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } } } },
      },
    },
  },
});
const StatusType = statusRoot.lookupType('google.rpc.Status');

/**
 * grpc-js words its own failures (deadline, no connection) with internal addresses
 * ("remote_addr=10.0.0.7:50051"): those never reach the client.
 */
function clientSafe(code: number, message: string): string {
  if (!/remote_addr|LB pick|No connection established|connect ECONNREFUSED/i.test(message)) return message;
  return code === 4 ? 'the upstream did not answer in time (deadline exceeded)' : code === 14 ? 'the upstream is unavailable' : 'the upstream call failed';
}

/** The JSON error body: {code, message, details}; details resolved against `root` where known. */
export function statusBody(code: number, rawMessage: string, detailsBin: Buffer | undefined, root: protobuf.Root): string {
  const message = clientSafe(code, rawMessage);
  let details: unknown[] = [];
  if (detailsBin) {
    try {
      const st = StatusType.decode(detailsBin) as unknown as { details?: Array<{ type_url: string; value: Uint8Array }> };
      details = (st.details ?? []).map((d) => {
        try {
          const anyType = root.lookupType('google.protobuf.Any');
          return messageOut(anyType, d as unknown as Record<string, unknown>, { emitDefaults: false, root });
        } catch {
          return { '@type': d.type_url, value: Buffer.from(d.value).toString('base64') };
        }
      });
    } catch { /* not a google.rpc.Status: keep the text */ }
  }
  return JSON.stringify({ code, message, details });
}
