// gRPC server reflection (grpc.reflection.v1, else v1alpha): the gateway asks a gRPC
// upstream for its services and their FileDescriptorProtos, following imports the answer
// left out, so a service needs no proto files at the gateway. One request per stream
// (a half-closed bidi call is a valid exchange), bounded in files and bytes.
import protobuf from 'protobufjs';
import { grpcChannel, type GrpcChannel } from './grpc-channel.js';
import type { UpstreamTls } from './task.js';
import { encodeDescriptorSet, fileHeaderOf } from './descriptor-set.js';

const REFLECTION = protobuf.parse(`
syntax = "proto3";
message ServerReflectionRequest {
  string host = 1;
  oneof message_request { string file_by_filename = 3; string file_containing_symbol = 4; string list_services = 7; }
}
message ServerReflectionResponse {
  oneof message_response {
    FileDescriptorResponse file_descriptor_response = 4;
    ListServiceResponse list_services_response = 6;
    ErrorResponse error_response = 7;
  }
}
message FileDescriptorResponse { repeated bytes file_descriptor_proto = 1; }
message ListServiceResponse { repeated ServiceResponse service = 1; }
message ServiceResponse { string name = 1; }
message ErrorResponse { int32 error_code = 1; string error_message = 2; }
`, { keepCase: true }).root;
const Request = REFLECTION.lookupType('ServerReflectionRequest');
const Response = REFLECTION.lookupType('ServerReflectionResponse');

interface ReflectionResponse {
  file_descriptor_response?: { file_descriptor_proto?: Uint8Array[] };
  list_services_response?: { service?: Array<{ name: string }> };
  error_response?: { error_code?: number; error_message?: string };
}

const PATHS = ['/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo'];
const MAX_FILES = 10_000;
const MAX_BYTES = 64 * 1024 * 1024;

export interface ReflectionTarget {
  url: string;
  tls?: UpstreamTls;
}

class GrpcCallError extends Error {
  constructor(readonly code: number, message: string) { super(message); }
}

function ask(channel: GrpcChannel, path: string, req: Record<string, string>, deadline: number): Promise<ReflectionResponse> {
  const bytes = Request.encode(Request.fromObject(req)).finish();
  return new Promise((resolve, reject) => {
    let answer: Uint8Array | null = null;
    channel.call(path, bytes, [], deadline, {
      onHeaders() {},
      onMessage(m) { answer ??= Buffer.from(m); },
      onEnd(st) {
        if (st.code !== 0) return reject(new GrpcCallError(st.code, st.details || `gRPC status ${st.code}`));
        if (!answer) return reject(new Error('the reflection service sent no answer'));
        try { resolve(Response.toObject(Response.decode(answer), { arrays: true }) as ReflectionResponse); } catch (e) { reject(new Error(`a reflection answer does not decode: ${(e as Error).message}`)); }
      },
    });
  });
}

/** FileDescriptorSet bytes of every service the upstream lists (but reflection itself). */
export async function fetchDescriptorSet(target: ReflectionTarget, timeoutMs: number): Promise<Uint8Array> {
  const channel = grpcChannel(target.url, target.tls, MAX_BYTES);
  const deadline = Date.now() + timeoutMs;
  try {
    let path = PATHS[0]!;
    let listed: ReflectionResponse;
    try {
      listed = await ask(channel, path, { list_services: '' }, deadline);
    } catch (e) {
      if (!(e instanceof GrpcCallError && e.code === 12)) throw e;
      path = PATHS[1]!; // UNIMPLEMENTED: an older server with only v1alpha
      listed = await ask(channel, path, { list_services: '' }, deadline);
    }
    const services = (listed.list_services_response?.service ?? []).map((s) => s.name).filter((n) => !n.startsWith('grpc.reflection.'));
    if (!services.length) throw new Error('the upstream lists no services');
    const files = new Map<string, Uint8Array>();
    let bytes = 0;
    const take = (r: ReflectionResponse, asked: string) => {
      if (r.error_response) throw new Error(`reflection could not give ${asked}: ${r.error_response.error_message || `error ${r.error_response.error_code}`}`);
      for (const f of r.file_descriptor_response?.file_descriptor_proto ?? []) {
        const { name } = fileHeaderOf(f);
        if (files.has(name)) continue;
        bytes += f.byteLength;
        if (files.size >= MAX_FILES || bytes > MAX_BYTES) throw new Error(`the upstream's descriptors are over ${MAX_FILES} files or ${MAX_BYTES} bytes`);
        files.set(name, f);
      }
    };
    for (const s of services) take(await ask(channel, path, { file_containing_symbol: s }, deadline), `the file of ${s}`);
    // Servers may send a file without the files it imports: ask for each one missing.
    for (let missing = missingImports(files); missing.length; missing = missingImports(files)) {
      for (const name of missing) {
        const before = files.size;
        take(await ask(channel, path, { file_by_filename: name }, deadline), name);
        if (!files.has(name) && files.size === before) throw new Error(`the upstream does not give "${name}", imported by its protos`);
      }
    }
    return encodeDescriptorSet([...files.values()]);
  } finally {
    channel.close();
  }
}

function missingImports(files: Map<string, Uint8Array>): string[] {
  const out = new Set<string>();
  for (const f of files.values()) for (const d of fileHeaderOf(f).dependency) if (!files.has(d)) out.add(d);
  return [...out];
}
