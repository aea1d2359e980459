// An HTTP request → the gRPC request message, and the gRPC response → the HTTP body, for
// one binding (HttpRule semantics): path variables, then the body ("*" or one field), then
// query parameters for every field the path and body did not bind. Path values win: they
// are applied last.
import { isUtf8 } from 'node:buffer';
import protobuf from 'protobufjs';
import type { HttpBinding } from './proto-registry.js';
import { jsonOf, LONG_STRING } from './json-bytes.js';
import { FromText, JsonMappingError, MAX_NESTING, fieldsOf, fullNameOf, jsonName, messageOut, toProtoObject } from './json-codec.js';

export interface Mapper {
  binding: Pick<HttpBinding, 'body' | 'responseBody'>;
  requestType: protobuf.Type;
  responseType: protobuf.Type;
  root: protobuf.Root;
}

/** Sets `value` at a dotted field path (proto or json names) in a JSON-shaped object. */
/** `whole`: the value is the field's whole JSON (the body bound to a repeated field is a JSON array). */
function setPath(target: Record<string, unknown>, type: protobuf.Type, path: string[], value: unknown, repeatedAppend: boolean, at: string, whole = false): void {
  let obj = target;
  let t = type;
  for (let i = 0; i < path.length; i++) {
    const f = fieldsOf(t).get(path[i]!);
    if (!f) throw new JsonMappingError(`${at}: unknown field "${path.slice(0, i + 1).join('.')}"`);
    const key = f.name;
    if (i === path.length - 1) {
      if (f.repeated && repeatedAppend) obj[key] = [...((obj[key] as unknown[] | undefined) ?? []), value];
      else if (whole && f.repeated && !f.map) {
        if (!Array.isArray(value)) throw new JsonMappingError(`${at}: expected a JSON array (the body is the repeated field "${path.join('.')}")`);
        obj[key] = value;
      } else obj[key] = f.repeated && !f.map ? [value] : value;
      return;
    }
    if (!(f.resolvedType instanceof protobuf.Type) || f.repeated) throw new JsonMappingError(`${at}: "${path.slice(0, i + 1).join('.')}" is not a message field`);
    obj = (obj[key] ??= {}) as Record<string, unknown>;
    t = f.resolvedType;
  }
}

/** The field `path` names, each segment before the last a message field; null when it names none. */
function fieldAt(t: protobuf.Type, path: string[]): protobuf.Field | null {
  let type: protobuf.Type = t;
  let f: protobuf.Field | null = null;
  for (let i = 0; i < path.length; i++) {
    if (i > 0) {
      if (!(f!.resolvedType instanceof protobuf.Type)) return null;
      type = f!.resolvedType;
    }
    f = fieldsOf(type).get(path[i]!) ?? null;
    if (!f) return null;
  }
  return f;
}

/** The message type of the field `path` names, when it is a message field. */
function messageTypeAt(t: protobuf.Type, path: string[]): protobuf.Type | null {
  const rt = fieldAt(t, path)?.resolvedType;
  return rt instanceof protobuf.Type ? rt : null;
}

/** Per mapper: where its body goes raw (httpBodyTarget), found once. */
const rawTargets = new WeakMap<Mapper, string | null>();

/**
 * The request message bytes. `body` is the raw request body (JSON) or null, or its text
 * already decoded from valid UTF-8 (a WebSocket text message).
 * `ignoreUnknownQuery`: a query parameter that names no field is skipped instead of a 400
 * (Envoy's ignore_unknown_query_parameters). Throws JsonMappingError for anything the client
 * got wrong (→ 400).
 */
export function encodeRequest(m: Mapper, vars: Map<string, string>, query: string, body: Uint8Array | string | null, contentType: string | null = null, ignoreUnknownQuery = false): Uint8Array {
  const b = m.binding;
  let obj: Record<string, unknown> = {};
  let rawTarget = rawTargets.get(m);
  if (rawTarget === undefined) rawTargets.set(m, (rawTarget = b.body ? httpBodyTarget(m.requestType, b.body) : null));
  const bound = new Set<string>(vars.keys());
  // Query parameters: fields bound neither by the path nor by the body.
  if (b.body !== '*' && query) {
    for (const [k, v] of new URLSearchParams(query)) {
      const path = k.split('.');
      if (bound.has(k) || (b.body && (k === b.body || k.startsWith(b.body + '.')))) continue;
      if (ignoreUnknownQuery && !fieldAt(m.requestType, path)) continue;
      if (messageTypeAt(m.requestType, path) && !isWrapperPath(m.requestType, path)) throw new JsonMappingError(`${k}: a message field cannot be set from a query parameter`);
      setPath(obj, m.requestType, path, new FromText(v), true, `query parameter ${k}`);
    }
  }
  if (rawTarget) {
    // google.api.HttpBody: the raw bytes and their content type, no JSON
    const bytes = typeof body === 'string' ? Buffer.from(body) : body && Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const raw = { content_type: contentType ?? '', data: bytes && bytes.length ? bytes.toString('base64') : '' };
    if (rawTarget === '*') obj = raw;
    else setPath(obj, m.requestType, rawTarget.split('.'), raw, false, 'body', true);
  } else if (b.body) {
    let json: unknown = {};
    if (body && body.length) {
      let text: string;
      if (typeof body === 'string') text = body;
      else {
        const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
        // toString would turn invalid UTF-8 into U+FFFD and send that to the backend
        if (!isUtf8(bytes)) throw new JsonMappingError('malformed JSON body: not valid UTF-8');
        text = bytes.toString('utf8');
      }
      try { json = JSON.parse(text); } catch (e) {
        throw new JsonMappingError(`malformed JSON body: ${(e as Error).message}`);
      }
    }
    if (b.body === '*') {
      if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new JsonMappingError('body: expected a JSON object');
      obj = json as Record<string, unknown>;
    } else {
      setPath(obj, m.requestType, b.body.split('.'), json, false, 'body', true);
    }
  }
  for (const [k, v] of vars) setPath(obj, m.requestType, k.split('.'), new FromText(v), false, `path variable {${k}}`);
  const plain = toProtoObject(m.requestType, obj, { root: m.root });
  try { return m.requestType.encode(plain).finish(); } catch (e) {
    // protobufjs stops at 100 nested messages (protoc's limit). toProtoObject counts as it does and
    // refuses first, with the path; this keeps a count that drifts from protobufjs' a 400, not a 500
    if ((e as Error).message === 'max depth exceeded') throw new JsonMappingError(`body: messages nest deeper than ${MAX_NESTING} levels`);
    throw e;
  }
}

function isWrapperPath(t: protobuf.Type, path: string[]): boolean {
  const type = messageTypeAt(t, path);
  return !!type && (/^\.google\.protobuf\.(Double|Float|Int64|UInt64|Int32|UInt32|Bool|String|Bytes)Value$/.test(fullNameOf(type)) || /^\.google\.protobuf\.(Timestamp|Duration|FieldMask)$/.test(fullNameOf(type)));
}

const HTTP_BODY = '.google.api.HttpBody';

/** Where a binding's body goes raw: '*' when the request is a google.api.HttpBody, the field
 * path when the body field is one, else null (JSON). */
function httpBodyTarget(t: protobuf.Type, body: string): string | null {
  if (body === '*') return fullNameOf(t) === HTTP_BODY ? '*' : null;
  const f = fieldAt(t, body.split('.'));
  return f && !f.repeated && f.resolvedType instanceof protobuf.Type && fullNameOf(f.resolvedType) === HTTP_BODY ? body : null;
}

/** The method answers a google.api.HttpBody (without response_body): raw bytes, not JSON. */
export function answersRaw(m: Mapper): boolean {
  return !m.binding.responseBody && fullNameOf(m.responseType) === HTTP_BODY;
}

/** A google.api.HttpBody response (without response_body): its content type and raw bytes, else null. */
export function rawResponse(m: Mapper, bytes: Uint8Array): { contentType: string; data: Uint8Array } | null {
  if (!answersRaw(m)) return null;
  const msg = m.responseType.decode(bytes) as unknown as { content_type?: string; data?: Uint8Array };
  return { contentType: msg.content_type || 'application/octet-stream', data: msg.data ?? new Uint8Array(0) };
}

/**
 * The response body JSON for one response message (response_body selects one field).
 * `asBytes`: a message with long strings may come back as UTF-8 bytes (json-bytes.ts).
 */
export function decodeResponse(m: Mapper, bytes: Uint8Array, json: JsonOutput, asBytes: true): string | Buffer;
export function decodeResponse(m: Mapper, bytes: Uint8Array, json: JsonOutput): string;
export function decodeResponse(m: Mapper, bytes: Uint8Array, json: JsonOutput, asBytes = false): string | Buffer {
  const msg = m.responseType.decode(bytes) as unknown as Record<string, unknown>;
  // a message shorter than this cannot hold a long string (nor bytes whose base64 is one)
  const longStrings = asBytes && bytes.byteLength >= (LONG_STRING * 3) / 4 ? { seen: false } : undefined;
  const opts = { emitDefaults: json.emitDefaults, useProtoNames: json.useProtoNames, enumsAsInts: json.enumsAsInts, root: m.root, longStrings };
  let value: unknown;
  if (!m.binding.responseBody) value = messageOut(m.responseType, msg, opts);
  else {
    const f = fieldsOf(m.responseType).get(m.binding.responseBody)!;
    const out = messageOut(m.responseType, { [f.name]: msg[f.name] }, { ...opts, emitDefaults: true }) as Record<string, unknown>;
    value = out[json.useProtoNames ? f.name : jsonName(f)] ?? null;
  }
  return jsonOf(value, longStrings?.seen ?? false);
}

/** How a route prints response messages (its transcode options). */
export interface JsonOutput { emitDefaults: boolean; useProtoNames?: boolean; enumsAsInts?: boolean }
