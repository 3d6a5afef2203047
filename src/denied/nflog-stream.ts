// The packets NFLOG hands to the reader, as tcpdump writes them (`tcpdump -i
// nflog:GROUP -w -`: a pcap stream of LINKTYPE_NFLOG records). Pure: bytes in,
// refused packets out; the process that produces the bytes is reader.ts.
//
// LINKTYPE_NFLOG (libpcap's pcap/nflog.h): a 4-byte header (family, version,
// group in network order), then TLVs whose length and type are in the byte
// order of the host that wrote the file (the pcap magic says which), each
// padded to 4 bytes. We read the prefix (NFULA_PREFIX, 10) and the packet
// (NFULA_PAYLOAD, 9), from which the addresses, protocol and ports come.

const PCAP_HEADER = 24;
const RECORD_HEADER = 16;
const NFULA_PAYLOAD = 9;
const NFULA_PREFIX = 10;
const LINKTYPE_NFLOG = 239;
/** IPv6 extension headers that sit between the fixed header and the transport header. */
const IPV6_EXTENSIONS = new Set([0, 43, 60]);
const IPV6_FRAGMENT = 44;
const PORT_PROTOCOLS = new Set([6, 17, 132, 136]); // tcp, udp, sctp, udplite

export interface LoggedPacket {
  /** When the kernel logged it (ms since the epoch). */
  at: number;
  group: number;
  prefix: string;
  family: 4 | 6;
  src: string;
  dst: string;
  /** IP protocol number (the transport's, after IPv6 extension headers). */
  protocol: number;
  srcPort: number | null;
  dstPort: number | null;
}

function ipv4(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** An IPv6 address in its shortest text (RFC 5952). */
export function ipv6Text(b: Buffer, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(at + 2 * i));
  let best = { start: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len && j - i > 1) best = { start: i, len: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start < 0) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.len).join(':')}`;
}

/** Addresses, protocol and ports of an IP packet (as much of it as NFLOG copied); undefined when it is not IP. */
export function parseIpPacket(
  p: Buffer,
): Pick<LoggedPacket, 'family' | 'src' | 'dst' | 'protocol' | 'srcPort' | 'dstPort'> | undefined {
  if (p.length < 1) return undefined;
  const version = p[0]! >> 4;
  let protocol: number;
  let transport: number;
  let family: 4 | 6;
  let src: string;
  let dst: string;
  let firstFragment = true;
  if (version === 4) {
    if (p.length < 20) return undefined;
    family = 4;
    transport = (p[0]! & 0x0f) * 4;
    protocol = p[9]!;
    src = ipv4(p, 12);
    dst = ipv4(p, 16);
    firstFragment = (p.readUInt16BE(6) & 0x1fff) === 0;
  } else if (version === 6) {
    if (p.length < 40) return undefined;
    family = 6;
    src = ipv6Text(p, 8);
    dst = ipv6Text(p, 24);
    protocol = p[6]!;
    transport = 40;
    while (transport + 8 <= p.length) {
      if (IPV6_EXTENSIONS.has(protocol)) {
        protocol = p[transport]!;
        transport += (p[transport + 1]! + 1) * 8;
      } else if (protocol === IPV6_FRAGMENT) {
        firstFragment = (p.readUInt16BE(transport + 2) & 0xfff8) === 0;
        protocol = p[transport]!;
        transport += 8;
      } else break;
    }
  } else return undefined;
  const ports = PORT_PROTOCOLS.has(protocol) && firstFragment && transport + 4 <= p.length;
  return {
    family,
    src,
    dst,
    protocol,
    srcPort: ports ? p.readUInt16BE(transport) : null,
    dstPort: ports ? p.readUInt16BE(transport + 2) : null,
  };
}

/**
 * Reads a pcap stream of NFLOG records chunk by chunk. A record split across
 * chunks waits for the rest; a stream that is not a pcap of NFLOG records
 * throws (the reader restarts its process).
 */
export class NflogStream {
  private buf: Buffer = Buffer.alloc(0);
  private little: boolean | undefined;
  private nanos = false;
  /** Records that were not an IP packet with our prefix layout (counted, not thrown). */
  skipped = 0;

  push(chunk: Buffer, onPacket: (p: LoggedPacket) => void): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let at = 0;
    if (this.little === undefined) {
      if (this.buf.length < PCAP_HEADER) return;
      this.readHeader();
      at = PCAP_HEADER;
    }
    while (this.buf.length - at >= RECORD_HEADER) {
      const u32 = (o: number) => (this.little ? this.buf.readUInt32LE(o) : this.buf.readUInt32BE(o));
      const captured = u32(at + 8);
      if (this.buf.length - at - RECORD_HEADER < captured) break;
      const at0 = u32(at) * 1000 + Math.floor(u32(at + 4) / (this.nanos ? 1e6 : 1e3));
      const packet = this.record(this.buf.subarray(at + RECORD_HEADER, at + RECORD_HEADER + captured), at0);
      if (packet) onPacket(packet);
      else this.skipped++;
      at += RECORD_HEADER + captured;
    }
    this.buf = at === this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(at));
  }

  private readHeader(): void {
    const magic = this.buf.readUInt32LE(0);
    if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) this.little = true;
    else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) this.little = false;
    else throw new Error(`not a pcap stream (magic 0x${magic.toString(16)})`);
    const normalized = this.little ? magic : this.buf.readUInt32BE(0);
    this.nanos = normalized === 0xa1b23c4d;
    const linktype = this.little ? this.buf.readUInt32LE(20) : this.buf.readUInt32BE(20);
    if ((linktype & 0x0fffffff) !== LINKTYPE_NFLOG) throw new Error(`not an NFLOG capture (link type ${linktype})`);
  }

  private record(r: Buffer, at: number): LoggedPacket | undefined {
    if (r.length < 4) return undefined;
    const group = r.readUInt16BE(2);
    let prefix = '';
    let payload: Buffer | undefined;
    for (let o = 4; o + 4 <= r.length; ) {
      const len = this.little ? r.readUInt16LE(o) : r.readUInt16BE(o);
      const type = (this.little ? r.readUInt16LE(o + 2) : r.readUInt16BE(o + 2)) & 0x3fff;
      if (len < 4 || o + len > r.length) break;
      if (type === NFULA_PREFIX) {
        const nul = r.indexOf(0, o + 4);
        prefix = r.toString('latin1', o + 4, nul >= 0 && nul < o + len ? nul : o + len);
      } else if (type === NFULA_PAYLOAD) payload = r.subarray(o + 4, o + len);
      o += (len + 3) & ~3;
    }
    const ip = payload && parseIpPacket(payload);
    return ip ? { at, group, prefix, ...ip } : undefined;
  }
}
