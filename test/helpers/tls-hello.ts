// A hand-made TLS 1.2 ClientHello offering exactly the given cipher suites, for testing what
// a server accepts even where this machine's OpenSSL cannot offer a suite any more (3DES).
import net from 'node:net';
import { randomBytes } from 'node:crypto';

const u16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
const withLen16 = (b: Buffer) => Buffer.concat([u16(b.length), b]);
const ext = (type: number, body: Buffer) => Buffer.concat([u16(type), withLen16(body)]);

export function clientHello(suites: number[], servername: string): Buffer {
  const name = Buffer.from(servername);
  const extensions = Buffer.concat([
    ext(0x0000, withLen16(Buffer.concat([Buffer.from([0]), withLen16(name)]))),       // server_name
    ext(0x000a, withLen16(Buffer.concat([u16(0x001d), u16(0x0017), u16(0x0018)]))),   // supported_groups
    ext(0x000b, Buffer.from([1, 0])),                                                   // ec_point_formats
    ext(0x000d, withLen16(Buffer.concat([0x0804, 0x0401, 0x0403, 0x0501, 0x0201].map(u16)))), // signature_algorithms
  ]);
  const body = Buffer.concat([
    Buffer.from([0x03, 0x03]), randomBytes(32), Buffer.from([0]),
    withLen16(Buffer.concat(suites.map(u16))), Buffer.from([1, 0]), withLen16(extensions),
  ]);
  const handshake = Buffer.concat([Buffer.from([1, 0, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
  return Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), withLen16(handshake)]);
}

/** 'server-hello': a suite was chosen; 'alert': the server refused; 'closed': it hung up. */
export function offerSuites(port: number, suites: number[], servername: string): Promise<'server-hello' | 'alert' | 'closed'> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(clientHello(suites, servername)));
    let got = Buffer.alloc(0);
    const done = (r: 'server-hello' | 'alert' | 'closed') => { s.destroy(); resolve(r); };
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length < 6) return;
      if (got[0] === 0x15) done('alert');
      else if (got[0] === 0x16 && got[5] === 0x02) done('server-hello');
      else done('closed');
    });
    s.on('error', () => done('closed'));
    s.on('close', () => done('closed'));
    setTimeout(() => done('closed'), 3000);
  });
}

export const SUITES = {
  TLS_RSA_WITH_3DES_EDE_CBC_SHA: 0x000a,
  TLS_RSA_WITH_AES_256_CBC_SHA: 0x0035,
  TLS_RSA_WITH_AES_128_GCM_SHA256: 0x009c,
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 0xc013,
  TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA: 0xc012,
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 0xc02f,
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 0xcca8,
} as const;
