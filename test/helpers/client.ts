// Client helpers: plain HTTP requests over fresh connections, and raw bytes over TCP for
// the malformed-request tests.
import http from 'node:http';
import net from 'node:net';

export interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string; json: any }

export function request(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try { json = JSON.parse(body); } catch { json = undefined; }
        resolve({ status: res.statusCode!, headers: res.headers, body, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Sends raw bytes, returns everything the server wrote before closing (or after timeoutMs). */
export function rawExchange(port: number, bytes: string | Buffer, timeoutMs = 3000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    const timer = setTimeout(() => { s.destroy(); resolve({ text, closed }); }, timeoutMs);
    s.on('data', (d) => { text += d.toString('latin1'); });
    s.on('error', () => undefined);
    s.on('close', () => { closed = true; clearTimeout(timer); resolve({ text, closed }); });
    s.write(bytes);
  });
}

export function statusOf(rawResponse: string): number | null {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(rawResponse);
  return m ? Number(m[1]) : null;
}

export function bodyOf(rawResponse: string): any {
  const i = rawResponse.indexOf('\r\n\r\n');
  try { return JSON.parse(rawResponse.slice(i + 4)); } catch { return undefined; }
}
