// Address parsing on top of ipaddr.js, with the strictness a firewall needs:
// no shorthand IPv4 ("10.1"), no host bits set in a CIDR, canonical text out.
import ipaddr from 'ipaddr.js';
import type { Family } from './model.js';

export interface ParsedAddress {
  text: string;
  family: Family;
  addr: ipaddr.IPv4 | ipaddr.IPv6;
}

export interface ParsedCidr {
  text: string;
  family: Family;
  addr: ipaddr.IPv4 | ipaddr.IPv6;
  prefix: number;
}

/** Parses an IP address; returns undefined when it is not one. */
const V4 = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

export function parseAddress(text: string): ParsedAddress | undefined {
  // Fast path for the common case (inventories hold thousands of these):
  // dotted decimal without leading zeros, each part 0-255; the text is canonical.
  const m = V4.exec(text);
  if (m) {
    const octets = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
    if (octets.every((o) => o <= 255)) return { text, family: 4, addr: new ipaddr.IPv4(octets) };
    return undefined;
  }
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) {
    const addr = ipaddr.IPv4.parse(text);
    return { text: addr.toString(), family: 4, addr };
  }
  if (text.includes(':') && ipaddr.IPv6.isValid(text) && !text.includes('%')) {
    const addr = ipaddr.IPv6.parse(text);
    return { text: addr.toString(), family: 6, addr };
  }
  return undefined;
}

/** Parses a CIDR. `error` says why it is not one (e.g. host bits set). */
export function parseCidr(text: string): { cidr?: ParsedCidr; error?: string } {
  const slash = text.indexOf('/');
  if (slash < 0) return { error: `"${text}" is not a CIDR (expected address/prefix, e.g. 10.100.0.0/24)` };
  const base = parseAddress(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!base) return { error: `"${text}" is not a CIDR: "${text.slice(0, slash)}" is not an IP address` };
  const max = base.family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
    return { error: `"${text}" is not a CIDR: the prefix must be 0-${max}` };
  }
  const prefix = Number(prefixText);
  const network = networkAddress(base.addr, prefix);
  if (network.toString() !== base.addr.toString()) {
    return { error: `"${text}" has host bits set: did you mean ${network.toString()}/${prefix}?` };
  }
  return { cidr: { text: `${network.toString()}/${prefix}`, family: base.family, addr: network, prefix } };
}

function networkAddress(addr: ipaddr.IPv4 | ipaddr.IPv6, prefix: number): ipaddr.IPv4 | ipaddr.IPv6 {
  const bytes = addr.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const bitsLeft = prefix - i * 8;
    if (bitsLeft >= 8) continue;
    const mask = bitsLeft <= 0 ? 0 : (0xff << (8 - bitsLeft)) & 0xff;
    bytes[i] = (bytes[i] ?? 0) & mask;
  }
  return ipaddr.fromByteArray(bytes);
}

export function cidrContains(cidr: ParsedCidr, addr: ParsedAddress): boolean {
  if (cidr.family !== addr.family) return false;
  return addr.addr.match([cidr.addr, cidr.prefix] as [ipaddr.IPv4, number]);
}

export function familyOf(text: string): Family {
  return text.includes(':') ? 6 : 4;
}

/** Link-local IPv6 (fe80::/10) is on every v6 interface and says nothing about the plane. */
export function isLinkLocal6(text: string): boolean {
  const a = parseAddress(text);
  return a?.family === 6 && a.addr.range() === 'linkLocal';
}
