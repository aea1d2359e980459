// A compiled FileDescriptorSet (`protoc --include_imports --descriptor_set_out`, Envoy's
// proto_descriptor, or what server reflection returns) as a protobufjs Root. protobufjs
// builds the types and services; its descriptor reader drops method options, so the
// google.api.http rules are read here from the same bytes and attached as a .proto file's
// would be (bindingsOf reads them from parsedOptions either way).
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';

// Only the fields needed to find each method's HttpRule: the decoder skips everything else.
const RULES_VIEW = protobuf.parse(`
syntax = "proto3";
message FileDescriptorSet { repeated FileDescriptorProto file = 1; }
message FileDescriptorProto { string name = 1; string package = 2; repeated string dependency = 3; repeated ServiceDescriptorProto service = 6; }
message ServiceDescriptorProto { string name = 1; repeated MethodDescriptorProto method = 2; }
message MethodDescriptorProto { string name = 1; MethodOptions options = 4; }
message MethodOptions { HttpRule http = 72295728; }
message HttpRule {
  string selector = 1;
  oneof pattern { string get = 2; string put = 3; string post = 4; string delete = 5; string patch = 6; CustomHttpPattern custom = 8; }
  string body = 7;
  string response_body = 12;
  repeated HttpRule additional_bindings = 11;
}
message CustomHttpPattern { string kind = 1; string path = 2; }
`, { keepCase: true }).root;
// ext/descriptor adds Root.fromDescriptor at run time; its typings do not declare it.
const fromDescriptor = (protobuf.Root as unknown as { fromDescriptor(set: protobuf.Message): protobuf.Root }).fromDescriptor;

const SetView = RULES_VIEW.lookupType('FileDescriptorSet');
const FileView = RULES_VIEW.lookupType('FileDescriptorProto');

interface MethodView { name: string; options?: { http?: Record<string, unknown> } }
interface FileView { name: string; package?: string; dependency?: string[]; service?: Array<{ name: string; method?: MethodView[] }> }

/** The name and imports of one serialised FileDescriptorProto (server reflection follows them). */
export function fileHeaderOf(bytes: Uint8Array): { name: string; dependency: string[] } {
  const f = FileView.toObject(FileView.decode(bytes), { arrays: true }) as FileView;
  return { name: f.name, dependency: f.dependency ?? [] };
}

/** FileDescriptorSet bytes from serialised FileDescriptorProtos. */
export function encodeDescriptorSet(files: Uint8Array[]): Uint8Array {
  const w = protobuf.Writer.create();
  for (const f of files) w.uint32(10).bytes(f);
  return w.finish();
}

export function rootFromDescriptorSet(bytes: Uint8Array): protobuf.Root {
  let root: protobuf.Root;
  let view: { file?: FileView[] };
  try {
    view = SetView.toObject(SetView.decode(bytes), { arrays: true, oneofs: false }) as { file?: FileView[] };
    root = fromDescriptor(descriptor.FileDescriptorSet.decode(bytes));
    if (!view.file?.length) throw new Error('it has no files');
    root.resolveAll();
  } catch (e) {
    const message = (e as Error).message;
    if (/^no such /.test(message)) throw new Error(`${message}: build the set with protoc --include_imports so that every import is in it`);
    throw new Error(`not a FileDescriptorSet (${message})`);
  }
  for (const f of view.file) {
    for (const s of f.service ?? []) {
      const svc = root.lookup(f.package ? `${f.package}.${s.name}` : s.name);
      if (!(svc instanceof protobuf.Service)) continue;
      for (const m of s.method ?? []) {
        const rule = m.options?.http;
        const method = svc.methods[m.name];
        if (rule && method) method.parsedOptions = [{ '(google.api.http)': rule }];
      }
    }
  }
  return root;
}
