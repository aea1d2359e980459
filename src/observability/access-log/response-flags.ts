// Envoy's response flags, for the access log: why the gateway (not the upstream) answered,
// or how the exchange ended badly. One flag per gateway error code (src/errors.ts).
import type { ErrorCode } from '../../errors.js';

const FLAGS: Partial<Record<ErrorCode, string>> = {
  upstream_timeout: 'UT', // upstream request timeout
  upstream_connect_timeout: 'UF',
  upstream_unavailable: 'UF', // upstream connection failure
  upstream_tls: 'UF',
  upstream_reset: 'UC', // upstream connection termination
  upstream_bad_response: 'UPE', // upstream protocol error
  no_healthy_target: 'UH', // no healthy upstream
  circuit_open: 'UO', // upstream overflow (circuit breaking)
  upstream_saturated: 'UO',
  transcoding_saturated: 'UO',
  rate_limited: 'RL',
  quota_exceeded: 'RL',
  route_not_found: 'NR', // no route
  method_not_allowed: 'NR',
  unauthorized: 'UAEX', // refused by authentication / authorisation
  forbidden: 'UAEX',
  client_closed: 'DC', // downstream connection termination
  bad_request: 'DPE', // downstream protocol error
  header_fields_too_large: 'DPE',
  uri_too_long: 'DPE',
  request_timeout: 'DPE',
  payload_too_large: 'DPE',
  internal_error: 'GE', // ours: a bug in the gateway (logged)
  service_unavailable: 'SI', // ours: shutting down / at the connection limit
};

/** The flags of an exchange ("-" when none). `aborted`: the client left (DC) after or without an answer. */
export function responseFlags(code: ErrorCode | null, aborted: boolean, retried: boolean): string {
  const f: string[] = [];
  const flag = code ? FLAGS[code] : undefined;
  if (flag) f.push(flag);
  if (aborted && flag !== 'DC') f.push('DC');
  if (retried && code && code.startsWith('upstream')) f.push('URX'); // failed after retrying
  return f.length ? f.join(',') : '-';
}
