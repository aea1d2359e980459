// Which gRPC channel a grpc upstream's calls use: upstreams.NAME.http2.client, "gateway" (the
// gateway's own HTTP/2 framing, the default) or "node" (node:http2).
import { GrpcFramedChannel } from './grpc-framed-channel.js';
import { DEFAULT_H2, GrpcH2Channel, type H2Settings } from './grpc-h2-client.js';
import type { GrpcEncoding } from './grpc-compression.js';
import type { UpstreamTls } from './task.js';

export type GrpcChannel = GrpcH2Channel | GrpcFramedChannel;

export function grpcChannel(target: string, tls?: UpstreamTls, maxMessageBytes = 4 * 1024 * 1024, compression?: GrpcEncoding, h2: H2Settings = DEFAULT_H2): GrpcChannel {
  return h2.client === 'node' ? new GrpcH2Channel(target, tls, maxMessageBytes, compression, h2) : new GrpcFramedChannel(target, tls, maxMessageBytes, compression, h2);
}
