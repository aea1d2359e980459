// Graceful stop of one gateway and its engine: stop accepting, send WebSocket clients 1001,
// let in-flight requests (and closing WebSockets) finish
// until the deadline, answer 503 to those still waiting for their upstream, then close.
import type { Gateway } from './gateway.js';
import type { Engine } from '../server/types.js';
import { GatewayError } from '../errors.js';
import { log } from '../observability/logger.js';

export async function drain(gateway: Gateway, engine: Engine, deadline: number): Promise<void> {
  engine.stopListening();
  // WebSocket clients are told at once (1001); their upstream sides close as they answer.
  engine.closeWebSockets(1001, 'the gateway is shutting down');
  while ((gateway.inflight > 0 || engine.openWebSockets() > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (engine.openWebSockets() > 0) log.warn({ websockets: engine.openWebSockets() }, 'shutdown deadline reached; dropping open WebSockets');
  if (gateway.inflight > 0) log.warn({ inflight: gateway.inflight }, 'shutdown deadline reached; closing remaining requests');
  const shuttingDown = new GatewayError('service_unavailable', 'the gateway is shutting down');
  await Promise.race([gateway.destroy(shuttingDown), new Promise((r) => setTimeout(r, 500))]);
  await new Promise((r) => setTimeout(r, 20)); // let the 503s reach the socket
  engine.closeAll();
}
