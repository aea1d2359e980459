// What the lifecycle (runtime.ts) and the admin API need from the request-serving side,
// whether it runs in this thread (threads: 1, or the node engine) or in N front-end
// threads (threaded-front.ts). Admin reads are async so a threaded front can ask its threads.
import type { GatewayConfig } from '../config/types.js';

export interface AdminView {
  config(): GatewayConfig;
  health(): Promise<{ inflight: number; threads: number; connections?: number; websockets: number }>;
  upstreams(): Promise<Record<string, unknown>>;
  ratelimit(): Promise<Record<string, unknown>>;
  /** null: no such consumer */
  usage(consumerId: string): Promise<Record<string, unknown> | null>;
}

export interface Front extends AdminView {
  readonly engineName: 'uws' | 'node';
  readonly port: number;
  readonly threads: number;
  /** Swap in a validated config (listener settings already pinned by the caller). */
  apply(next: GatewayConfig): Promise<void>;
  /** SIGUSR1: every thread reopens its access log (after logrotate). */
  reopenLogs(): void;
  /** Graceful stop: no new connections, in-flight requests get until `deadline` (epoch ms). */
  stop(deadline: number): Promise<void>;
}
