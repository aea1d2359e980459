// A minimal WebSocket client over `net`, for load generation (what wrk is to HTTP): the
// `ws` package's client cost ~13 µs a message on the load generator's core, which the
// gRPC server shares in bench:ws's bridge rounds — so the load generator, not the gateway,
// set the bridge's rate (docs/transcoding.md § WebSocket bridge). This one sends text
// frames masked with a fresh key each (RFC 6455 5.3), answers pings, and hands each text
// message to the caller whole. Unfragmented messages only: what the gateway sends.
import net from 'node:net';
import { randomBytes } from 'node:crypto';

export interface RawSocket {
  sendText(text: string): void;
  onText(cb: (text: string) => void): void;
  onClose(cb: () => void): void;
  terminate(): void;
}

/** mask keys, refilled 4 KB at a time */
let keys = randomBytes(4096);
let keyAt = 0;
function maskKey(): Buffer {
  if (keyAt + 4 > keys.length) { keys = randomBytes(4096); keyAt = 0; }
  const k = keys.subarray(keyAt, keyAt + 4);
  keyAt += 4;
  return k;
}

function frame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + 4 + n);
  out[0] = 0x80 | opcode;
  if (n < 126) out[1] = 0x80 | n;
  else if (n < 65536) { out[1] = 0x80 | 126; out.writeUInt16BE(n, 2); } else { out[1] = 0x80 | 127; out.writeBigUInt64BE(BigInt(n), 2); }
  const key = maskKey();
  key.copy(out, head);
  for (let i = 0; i < n; i++) out[head + 4 + i] = payload[i]! ^ key[i & 3]!;
  return out;
}

/** Opens `url` (ws://host:port/path); resolves once the server answered 101. */
export function connectRaw(url: string): Promise<RawSocket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname);
    sock.setNoDelay(true);
    let textCb: (t: string) => void = () => undefined;
    let closeCb: () => void = () => undefined;
    let buf: Buffer = Buffer.alloc(0);
    let open = false;
    sock.once('connect', () => {
      sock.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    // 'close' follows every 'error': the caller hears of the end once
    sock.on('error', (e) => { if (!open) reject(e); });
    sock.on('close', () => closeCb());
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = buf.subarray(0, buf.indexOf('\r\n')).toString('latin1');
        if (!/^HTTP\/1\.1 101 /.test(status)) { reject(new Error(`upgrade refused: ${status}`)); sock.destroy(); return; }
        open = true;
        buf = buf.subarray(end + 4);
        resolve({
          sendText: (text) => { sock.write(frame(0x1, Buffer.from(text))); },
          onText: (cb) => { textCb = cb; },
          onClose: (cb) => { closeCb = cb; },
          terminate: () => sock.destroy(),
        });
      }
      // What answering one read sends goes out in one write (several notes in flight).
      sock.cork();
      try { frames(); } finally { sock.uncork(); }
    });
    function frames(): void {
      while (buf.length >= 2) {
        const opcode = buf[0]! & 0x0f;
        let n = buf[1]! & 0x7f;
        let at = 2;
        if (n === 126) { if (buf.length < 4) return; n = buf.readUInt16BE(2); at = 4; } else if (n === 127) { if (buf.length < 10) return; n = Number(buf.readBigUInt64BE(2)); at = 10; }
        if (buf.length < at + n) return;
        const payload = buf.subarray(at, at + n);
        buf = buf.subarray(at + n);
        if (opcode === 0x1) textCb(payload.toString('utf8'));
        else if (opcode === 0x9) sock.write(frame(0xa, Buffer.from(payload)));
        else if (opcode === 0x8) { sock.end(); return; }
      }
    }
  });
}
