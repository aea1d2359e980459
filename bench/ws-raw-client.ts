// A minimal WebSocket client over `net`, for load generation (what wrk is to HTTP): the
// `ws` package's client cost ~13 µs a message on the load generator's core, which the
// gRPC server shares in bench:ws's bridge rounds, so the load generator, not the gateway,
// set the bridge's rate (docs/transcoding.md § WebSocket bridge). This one sends text
// frames masked with a fresh key each (RFC 6455 5.3), answers pings, and hands each text
// message to the caller whole (unfragmented messages only: what the gateway sends). Reads
// land in one reused buffer (net's `onread`: no Readable stream), and what answering one
// read sends goes out in one write: 10.2 µs a message on the load core, where the grpc-js
// client of the direct rounds takes 9.8 µs (12.5 µs with 'data' events and a write each).
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
    let textCb: (t: string) => void = () => undefined;
    let closeCb: () => void = () => undefined;
    /** bytes of a frame (or of the 101) not yet whole, copied out of the read buffer */
    let rest: Buffer | null = null;
    let open = false;
    /** frames sent while a read is parsed go out together, in one write */
    let reading = false;
    const out: Buffer[] = [];
    const send = (f: Buffer) => { if (reading) out.push(f); else sock.write(f); };
    // onread: reads land in one reused buffer, without a Readable stream's 'data' machinery
    const readBuffer = Buffer.allocUnsafe(64 * 1024);
    const sock = net.connect({ port: Number(u.port), host: u.hostname, noDelay: true, onread: { buffer: readBuffer, callback: (n) => { onRead(readBuffer.subarray(0, n)); return true; } } });
    sock.once('connect', () => {
      sock.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    // 'close' follows every 'error': the caller hears of the end once
    sock.on('error', (e) => { if (!open) reject(e); });
    sock.on('close', () => closeCb());

    function onRead(chunk: Buffer): void {
      let buf = rest ? Buffer.concat([rest, chunk]) : chunk;
      rest = null;
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) { rest = Buffer.from(buf); return; }
        const status = buf.subarray(0, buf.indexOf('\r\n')).toString('latin1');
        if (!/^HTTP\/1\.1 101 /.test(status)) { reject(new Error(`upgrade refused: ${status}`)); sock.destroy(); return; }
        open = true;
        buf = buf.subarray(end + 4);
        resolve({
          sendText: (text) => send(frame(0x1, Buffer.from(text))),
          onText: (cb) => { textCb = cb; },
          onClose: (cb) => { closeCb = cb; },
          terminate: () => sock.destroy(),
        });
      }
      reading = true;
      try { buf = frames(buf); } finally {
        reading = false;
        if (out.length === 1) sock.write(out[0]!);
        else if (out.length > 1) sock.write(Buffer.concat(out));
        out.length = 0;
      }
      if (buf.length) rest = Buffer.from(buf); // the read buffer is reused
    }

    /** Hands on each whole frame; returns what is left. */
    function frames(buf: Buffer): Buffer {
      while (buf.length >= 2) {
        const opcode = buf[0]! & 0x0f;
        let n = buf[1]! & 0x7f;
        let at = 2;
        if (n === 126) { if (buf.length < 4) break; n = buf.readUInt16BE(2); at = 4; } else if (n === 127) { if (buf.length < 10) break; n = Number(buf.readBigUInt64BE(2)); at = 10; }
        if (buf.length < at + n) break;
        const payload = buf.subarray(at, at + n);
        buf = buf.subarray(at + n);
        if (opcode === 0x1) textCb(payload.toString('utf8'));
        else if (opcode === 0x9) send(frame(0xa, Buffer.from(payload)));
        else if (opcode === 0x8) { sock.end(); return Buffer.alloc(0); }
      }
      return buf;
    }
  });
}
