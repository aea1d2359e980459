// Active health checks of gRPC targets, from the main thread: grpc.health.v1.Health/Check
// with the configured service name every intervalMs on each target; SERVING passes,
// anything else (NOT_SERVING, an error status, a timeout, no connection) fails.
// healthyThreshold passes in a row bring a target back, unhealthyThreshold failures take it
// out; the verdict goes to the shared target state, which every calling thread reads.
import protobuf from 'protobufjs';
import type { GatewayConfig, HealthCheckConfig } from '../config/types.js';
import { channelTlsOf } from './grpc-h2-client.js';
import { grpcChannel, type GrpcChannel } from './grpc-channel.js';
import { GrpcTargetState, grpcTargetUrl } from './grpc-target-state.js';

const CHECK = '/grpc.health.v1.Health/Check';
const SERVING = 1;

function requestOf(service: string): Uint8Array {
  const w = protobuf.Writer.create();
  if (service) w.uint32(10).string(service);
  return w.finish();
}

/** HealthCheckResponse.status (field 1); 0 (UNKNOWN) when absent. */
function statusOf(message: Uint8Array): number {
  const r = protobuf.Reader.create(message);
  let status = 0;
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === 8) status = r.int32();
    else r.skipType(tag & 7);
  }
  return status;
}

interface Checked { slot: number; channel: GrpcChannel; cfg: HealthCheckConfig; request: Uint8Array; passes: number; fails: number; running: boolean }

export class GrpcHealthChecks {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly checked: Checked[] = [];

  constructor(config: GatewayConfig, buffer: SharedArrayBuffer) {
    const state = new GrpcTargetState(buffer);
    for (const [name, u] of Object.entries(config.upstreams)) {
      if (u.protocol !== 'grpc') continue;
      const tls = channelTlsOf(u.tls);
      const list: Checked[] = [];
      for (const url of new Set(u.targets.map(grpcTargetUrl))) {
        const slot = state.slotOf(name, url);
        // No checks (any more, after a reload): nothing keeps the target out.
        if (!u.healthCheck) { state.setDown(slot, false); continue; }
        list.push({ slot, channel: grpcChannel(url, tls), cfg: u.healthCheck, request: requestOf(u.healthCheck.service ?? ''), passes: 0, fails: 0, running: false });
      }
      if (!list.length) continue;
      this.checked.push(...list);
      const tick = () => { for (const c of list) this.check(c, state); };
      tick();
      const timer = setInterval(tick, u.healthCheck!.intervalMs);
      timer.unref();
      this.timers.push(timer);
    }
  }

  private check(c: Checked, state: GrpcTargetState): void {
    if (c.running) return; // the previous probe is still out
    c.running = true;
    let status = 0;
    c.channel.call(CHECK, c.request, [], Date.now() + c.cfg.timeoutMs, {
      onHeaders() {},
      onMessage(m) { try { status = statusOf(m); } catch { status = 0; } },
      onEnd: (st) => {
        c.running = false;
        const ok = st.code === 0 && status === SERVING;
        if (ok) {
          c.fails = 0;
          if (state.isDown(c.slot) && ++c.passes >= c.cfg.healthyThreshold) { state.setDown(c.slot, false); c.passes = 0; }
        } else {
          c.passes = 0;
          if (!state.isDown(c.slot) && ++c.fails >= c.cfg.unhealthyThreshold) { state.setDown(c.slot, true); c.fails = 0; }
        }
      },
    });
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    for (const c of this.checked) c.channel.close();
  }
}
