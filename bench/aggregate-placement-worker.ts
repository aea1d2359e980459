// The worker of bench/aggregate-placement.ts. `merge`: parse two backend bodies it was
// handed and serialise the composed answer (the gateway's placement). `fetchAndMerge`: make
// the two HTTP calls itself, with this worker's own keep-alive agent, then do the same.
import http from 'node:http';

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function compose(a: ArrayBuffer, b: ArrayBuffer): ArrayBuffer {
  const dec = new TextDecoder();
  const out = JSON.stringify({ a: JSON.parse(dec.decode(a)), b: JSON.parse(dec.decode(b)) });
  const bytes = Buffer.from(out);
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
}

export function get(agentOf: http.Agent, host: string, port: number): Promise<ArrayBuffer> {
  return new Promise((resolve, reject) => {
    http.get({ host, port, path: '/kb', agent: agentOf }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => { const b = Buffer.concat(chunks); resolve(b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer); });
    }).on('error', reject);
  });
}

export default async function task(t: { kind: 'merge'; a: ArrayBuffer; b: ArrayBuffer } | { kind: 'fetchAndMerge'; port: number }): Promise<ArrayBuffer> {
  if (t.kind === 'merge') return compose(t.a, t.b);
  const [a, b] = await Promise.all([get(agent, '127.0.0.1', t.port), get(agent, '127.0.0.2', t.port)]);
  return compose(a, b);
}
