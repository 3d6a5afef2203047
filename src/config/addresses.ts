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

/**
 * The 32-bit value of canonical dotted-decimal IPv4 text (four parts 0-255, no
 * leading zeros), or -1 for any other text, other spellings of IPv4 included.
 * The fast path of the functions below: every address of an inventory goes
 * through it on every load, so it reads characters instead of running a
 * regular expression, and allocates nothing.
 */
export function ipv4Value(text: string): number {
  const len = text.length;
  if (len < 7 || len > 15) return -1;
  let value = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= len; i++) {
    const c = i < len ? text.charCodeAt(i) : 46; // the end closes the last part as a dot would
    if (c === 46) {
      if (digits === 0 || part > 255 || parts === 4) return -1;
      value = value * 256 + part;
      parts++;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 3 || (digits > 0 && part === 0)) return -1; // a fourth digit, or a leading zero
      part = part * 10 + (c - 48);
      digits++;
    } else return -1;
  }
  return parts === 4 ? value : -1;
}

function octetsOf(value: number): number[] {
  return [(value >>> 24) & 255, (value >>> 16) & 255, (value >>> 8) & 255, value & 255];
}

/** Parses an IP address; returns undefined when it is not one. */
export function parseAddress(text: string): ParsedAddress | undefined {
  const v4 = ipv4Value(text);
  if (v4 >= 0) return { text, family: 4, addr: new ipaddr.IPv4(octetsOf(v4)) };
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
  if (ipv4Value(text) >= 0) return { text, family: 4 };
  const a = parseAddress(text);
  return a && { text: a.text, family: a.family };
}

/** Whether an address (any text parseAddress takes) lies in a CIDR; numeric for canonical IPv4. */
export function inCidr(text: string, cidr: ParsedCidr): boolean {
  const n = cidr.family === 4 ? ipv4Value(text) : -1;
  if (n < 0) {
    const a = parseAddress(text);
    return a !== undefined && cidrContains(cidr, a);
  }
  return networkBits(n, cidr.prefix) === networkBits(v4Network(cidr), cidr.prefix);
}

function v4Network(cidr: ParsedCidr): number {
  return (cidr.addr as ipaddr.IPv4).octets.reduce((x, o) => x * 256 + o, 0);
}

/** The first `prefix` bits of a 32-bit IPv4 value: equal for the addresses of one network (a /0 holds every address). */
function networkBits(value: number, prefix: number): number {
  return prefix === 0 ? 0 : value >>> (32 - prefix);
}

/**
 * Whether an address lies in one of `cidrs`: inCidr over the list, with the
 * IPv4 networks turned into numbers once, for checks of many addresses
 * against the same list (every address of an inventory, on every load).
 */
export function cidrListMatcher(cidrs: readonly ParsedCidr[]): (text: string) => boolean {
  const v4 = cidrs.filter((c) => c.family === 4);
  const nets = v4.map((c) => networkBits(v4Network(c), c.prefix));
  return (text) => {
    const n = v4.length > 0 ? ipv4Value(text) : -1;
    if (n < 0) return cidrs.some((c) => inCidr(text, c));
    for (let i = 0; i < v4.length; i++) if (networkBits(n, v4[i]!.prefix) === nets[i]) return true;
    return false;
  };
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
