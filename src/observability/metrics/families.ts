// The gateway's metrics: names, labels and help text (docs/observability.md lists them).
// Counted in the shared store by the threads that see the events; the gauges that describe
// per-thread state (target health, breaker state) are asked of the threads at scrape time.
import type { GatewayConfig } from '../../config/types.js';
import type { FamilyDef } from './store.js';

export const HISTOGRAMS = ['gateway_http_request_duration_seconds', 'gateway_upstream_duration_seconds', 'gateway_http_gateway_duration_seconds'];

/** Every family kept in shared memory, laid out from the config at start (the same in every thread). */
export function familyDefs(config: GatewayConfig): FamilyDef[] {
  const m = config.observability.metrics;
  const maxSeries = m.maxSeries;
  const buckets = (name: string) => m.histogramBuckets[name] ?? m.buckets;
  const counter = (name: string, help: string, labels: string[], cap = maxSeries): FamilyDef => ({ name, help, type: 'counter', labels, maxSeries: cap });
  const histogram = (name: string, help: string, labels: string[]): FamilyDef => ({ name, help, type: 'histogram', labels, buckets: buckets(name), maxSeries });
  return [
    counter('gateway_http_requests_total', 'Requests answered (or abandoned by the client: code 499), by route, method, status and who made the answer (upstream or gateway).', m.consumerLabel ? ['route', 'method', 'code', 'source', 'consumer'] : ['route', 'method', 'code', 'source']),
    histogram('gateway_http_request_duration_seconds', 'Time from the request head to the end of the response.', ['route']),
    histogram('gateway_upstream_duration_seconds', 'Time from sending the request upstream (the last attempt) to the upstream\'s response headers; transcoded routes: the pool call.', ['route', 'upstream']),
    histogram('gateway_http_gateway_duration_seconds', 'The gateway\'s own time: the request\'s duration minus the time spent waiting for upstream response headers.', ['route']),
    counter('gateway_http_request_bytes_total', 'Request body bytes received.', ['route']),
    counter('gateway_http_response_bytes_total', 'Response body bytes sent.', ['route']),
    counter('gateway_upstream_retries_total', 'Upstream attempts after the first.', ['route']),
    counter('gateway_upstream_target_ejections_total', 'Targets ejected by outlier detection.', ['upstream', 'target']),
    counter('gateway_ratelimit_decisions_total', 'Rate-limit decisions by result (allowed, limited).', ['route', 'result']),
    counter('gateway_quota_exceeded_total', 'Requests refused because a plan\'s quota was used up.', ['plan']),
    counter('gateway_websocket_connections_total', 'WebSocket upgrades accepted (the upstream said 101 and the client was upgraded).', ['route']),
    counter('gateway_websocket_messages_total', 'WebSocket messages relayed, by direction: in (client to upstream) or out (upstream to client).', ['route', 'direction']),
    counter('gateway_websocket_message_bytes_total', 'WebSocket message payload bytes relayed, by direction.', ['route', 'direction']),
    counter('gateway_transcoding_calls_total', 'gRPC calls made for REST/JSON requests, by method and gRPC status code.', ['method', 'grpc_code']),
    counter('gateway_transcoding_offloaded_messages_total', 'WebSocket bridge messages of a call run in a front thread that were mapped in a pool worker, being at least transcoding.inlineWebSocketBelowBytes long; by method and direction (in: request JSON to protobuf, out: answer to JSON).', ['method', 'direction']),
    counter('gateway_access_log_dropped_total', 'Access-log lines dropped because the file could not keep up (more than 8 MB waiting), per thread.', ['thread'], 1024),
    counter('gateway_config_reloads_total', 'Config reloads by result (success, failure).', ['result'], 10),
    { name: 'gateway_event_loop_lag_seconds', help: 'Event-loop delay (p99 over the last 5 s), per thread.', type: 'gauge', labels: ['thread'], scale: 1e6, maxSeries: 1024 },
  ];
}
