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

export interface RawResult {
  text: string;
  /** the gateway closed the connection (not our timeout) */
  closed: boolean;
  /** a socket error; ECONNREFUSED means nothing listened: a dead gateway, never a pass */
  error?: string;
}

/** Sends raw bytes, returns everything the server wrote before closing (or after timeoutMs). */
export function rawExchange(port: number, bytes: string | Buffer, timeoutMs = 3000): Promise<RawResult> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    let error: string | undefined;
    const timer = setTimeout(() => { s.destroy(); resolve({ text, closed, error }); }, timeoutMs);
    s.on('data', (d) => { text += d.toString('latin1'); });
    s.on('error', (e: NodeJS.ErrnoException) => { error = e.code ?? e.message; });
    s.on('close', () => { closed = error !== 'ECONNREFUSED'; clearTimeout(timer); resolve({ text, closed, error }); });
    s.write(bytes);
  });
}

/** Asserts the gateway still accepts connections and answers (after a probe that might have crashed it). */
export async function assertAlive(t: { ok: (v: unknown, m: string) => unknown }, port: number, what: string): Promise<void> {
  const r = await rawExchange(port, 'GET /__alive HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 5000);
  t.ok(r.error !== 'ECONNREFUSED' && statusOf(r.text) !== null, `${what}: the gateway is still alive (got ${r.error ?? statusOf(r.text)})`);
}

export function statusOf(rawResponse: string): number | null {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(rawResponse);
  return m ? Number(m[1]) : null;
}

export function bodyOf(rawResponse: string): any {
  const i = rawResponse.indexOf('\r\n\r\n');
  try { return JSON.parse(rawResponse.slice(i + 4)); } catch { return undefined; }
}
