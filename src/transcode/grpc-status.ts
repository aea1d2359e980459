// gRPC status → HTTP: the status mapping of grpc-gateway / Envoy, and the google.rpc.Status
// JSON body with `details` decoded from grpc-status-details-bin.
import protobuf from 'protobufjs';
import { join } from 'node:path';
import { messageOut } from './json-codec.js';
import { BUNDLED_PROTO_DIR } from './bundled-protos.js';

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
const AnyType = statusRoot.lookupType('google.protobuf.Any');

let rpcDetails: protobuf.Root | null | undefined;
/** google/rpc/error_details.proto (ErrorInfo, BadRequest, RetryInfo, ...), parsed on first use; null if missing. */
function rpcDetailsRoot(): protobuf.Root | null {
  if (rpcDetails === undefined) {
    // keepCase, as the services' protos are loaded: field names are proto names, JSON names derived
    try { rpcDetails = new protobuf.Root().loadSync(join(BUNDLED_PROTO_DIR, 'google', 'rpc', 'error_details.proto'), { keepCase: true }); rpcDetails.resolveAll(); } catch { rpcDetails = null; }
  }
  return rpcDetails;
}

/**
 * grpc-js words its own failures (deadline, no connection) with internal addresses
 * ("remote_addr=10.0.0.7:50051"): those never reach the client.
 */
function clientSafe(code: number, message: string): string {
  if (!/remote_addr|LB pick|No connection established|connect ECONNREFUSED/i.test(message)) return message;
  return code === 4 ? 'the upstream did not answer in time (deadline exceeded)' : code === 14 ? 'the upstream is unavailable' : 'the upstream call failed';
}

/** A status message as a WebSocket close reason: client-safe, at most 123 bytes of UTF-8 (RFC 6455 5.5). */
export function closeReason(code: number, message: string): string {
  const b = Buffer.from(clientSafe(code, message));
  if (b.length <= 123) return b.toString();
  let cut = 120;
  while (cut > 0 && (b[cut]! & 0xc0) === 0x80) cut--; // not inside a character
  return `${b.subarray(0, cut).toString()}…`;
}

/** The JSON error body: {code, message, details}; details resolved against `root` where known. */
export function statusBody(code: number, rawMessage: string, detailsBin: Buffer | undefined, root: protobuf.Root): string {
  const message = clientSafe(code, rawMessage);
  let details: unknown[] = [];
  if (detailsBin) {
    try {
      const st = StatusType.decode(detailsBin) as unknown as { details?: Array<{ type_url: string; value: Uint8Array }> };
      details = (st.details ?? []).map((d) => {
        // the service's own protos first, then the google.rpc error details the gateway ships
        for (const r of [root, rpcDetailsRoot()]) {
          if (!r) continue;
          try { return messageOut(AnyType, d as unknown as Record<string, unknown>, { emitDefaults: false, root: r }); } catch { /* next */ }
        }
        return { '@type': d.type_url, value: Buffer.from(d.value).toString('base64') };
      });
    } catch { /* not a google.rpc.Status: keep the text */ }
  }
  return JSON.stringify({ code, message, details });
}
