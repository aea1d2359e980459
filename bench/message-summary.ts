// What the closed-loop message loads print: count, rate and latency percentiles.
export function messageSummary(latencies: number[], elapsedSeconds: number, errors: number): string {
  latencies.sort((a, b) => a - b);
  const at = (q: number) => +(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN).toFixed(2);
  return JSON.stringify({ messages: latencies.length, perSecond: Math.round(latencies.length / elapsedSeconds), p50: at(0.5), p99: at(0.99), errors }) + '\n';
}
