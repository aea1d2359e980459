import type { UpstreamConfig } from '../../config/types.js';
import type { Target } from '../target.js';
import type { Balancer } from './balancer.js';
import { RoundRobin } from './round-robin.js';
import { RandomBalancer } from './random.js';
import { LeastRequest } from './least-request.js';
import { ConsistentHash } from './consistent-hash.js';

export function createBalancer(kind: UpstreamConfig['balance'], targets: readonly Target[]): Balancer {
  switch (kind) {
    case 'random': return new RandomBalancer(targets);
    case 'least-request': return new LeastRequest(targets);
    case 'consistent-hash': return new ConsistentHash(targets);
    default: return new RoundRobin(targets);
  }
}
