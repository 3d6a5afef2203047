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

/** Canonical dotted-decimal IPv4: no leading zeros (the parts are checked for 0-255 apart). */
const V4 = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

/**
 * The four parts of canonical dotted-decimal IPv4 text, or undefined for any
 * other text (other spellings of IPv4 included): the fast path of the
 * functions below, which inventories of thousands of nodes go through.
 */
function v4Octets(text: string): number[] | undefined {
  const m = V4.exec(text);
  if (!m) return undefined;
  const octets = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
  return octets.every((o) => o <= 255) ? octets : undefined;
}

/** The 32-bit value of canonical dotted-decimal IPv4 text, or undefined. */
function ipv4Number(text: string): number | undefined {
  return v4Octets(text)?.reduce((n, o) => n * 256 + o, 0);
}

/** Parses an IP address; returns undefined when it is not one. */
export function parseAddress(text: string): ParsedAddress | undefined {
  const octets = v4Octets(text);
  if (octets) return { text, family: 4, addr: new ipaddr.IPv4(octets) };
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

/**
 * Canonical text and family of an address, without building an ipaddr object
 * for the common IPv4 form: the inventory check runs this for every address on
 * every reload.
 */
export function addressFacts(text: string): { text: string; family: Family } | undefined {
  if (v4Octets(text)) return { text, family: 4 };
  const a = parseAddress(text);
  return a && { text: a.text, family: a.family };
}

/** Whether an address (any text parseAddress takes) lies in a CIDR; numeric for canonical IPv4. */
export function inCidr(text: string, cidr: ParsedCidr): boolean {
  const n = cidr.family === 4 ? ipv4Number(text) : undefined;
  if (n === undefined) {
    const a = parseAddress(text);
    return a !== undefined && cidrContains(cidr, a);
  }
  if (cidr.prefix === 0) return true;
  const net = (cidr.addr as ipaddr.IPv4).octets.reduce((x, o) => x * 256 + o, 0);
  const shift = 32 - cidr.prefix;
  return Math.floor(n / 2 ** shift) === Math.floor(net / 2 ** shift);
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
