// A tiny authoritative DNS server on loopback UDP for discovery tests: answers A and SRV
// questions from a mutable table, with a TTL.
import dgram from 'node:dgram';

export interface DnsTable {
  a: Map<string, string[]>;
  srv: Map<string, Array<{ priority: number; weight: number; port: number; target: string }>>;
  ttl: number;
}

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  return Buffer.concat([...parts, Buffer.from([0])]);
}

function readName(msg: Buffer, offset: number): [string, number] {
  const labels: string[] = [];
  while (msg[offset] !== 0) {
    const len = msg[offset]!;
    labels.push(msg.subarray(offset + 1, offset + 1 + len).toString());
    offset += len + 1;
  }
  return [labels.join('.'), offset + 1];
}

export async function startDnsServer(table: DnsTable): Promise<{ address: string; queries: () => number; close(): void }> {
  const sock = dgram.createSocket('udp4');
  let queries = 0;
  sock.on('message', (msg, rinfo) => {
    queries++;
    const id = msg.readUInt16BE(0);
    const [qname, end] = readName(msg, 12);
    const qtype = msg.readUInt16BE(end);
    const question = msg.subarray(12, end + 4);
    const answers: Buffer[] = [];
    const rr = (type: number, rdata: Buffer) => {
      const h = Buffer.alloc(12);
      h.writeUInt16BE(0xc00c, 0); h.writeUInt16BE(type, 2); h.writeUInt16BE(1, 4); h.writeUInt32BE(table.ttl, 6); h.writeUInt16BE(rdata.length, 10);
      answers.push(h, rdata);
    };
    let count = 0;
    if (qtype === 1) for (const ip of table.a.get(qname) ?? []) { rr(1, Buffer.from(ip.split('.').map(Number))); count++; }
    if (qtype === 33) for (const s of table.srv.get(qname) ?? []) {
      const fixed = Buffer.alloc(6); fixed.writeUInt16BE(s.priority, 0); fixed.writeUInt16BE(s.weight, 2); fixed.writeUInt16BE(s.port, 4);
      rr(33, Buffer.concat([fixed, encodeName(s.target)])); count++;
    }
    const known = table.a.has(qname) || table.srv.has(qname);
    const header = Buffer.alloc(12);
    header.writeUInt16BE(id, 0);
    header.writeUInt16BE(known ? 0x8580 : 0x8583, 2); // response, authoritative, RD, RA; NXDOMAIN when unknown
    header.writeUInt16BE(1, 4); header.writeUInt16BE(count, 6);
    sock.send(Buffer.concat([header, question, ...answers]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { address: `127.0.0.1:${sock.address().port}`, queries: () => queries, close: () => sock.close() };
}
