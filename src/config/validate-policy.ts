// Turns a policy as written (built-in data or the user's YAML) into the model,
// checking what the schema cannot: protocol names, ports, peer selectors.
import { parseAddress, parseCidr } from './addresses.js';
import type { PeerSelector, Policy, PolicyRule, PortRange, Protocol, Role } from './model.js';
import type { RawEgressRule, RawIngressRule, RawPolicy } from './schema.js';
import type { FieldPath } from './yaml-source.js';

export type Report = (path: FieldPath, message: string) => void;

/** Order given to a user policy that does not say: after every built-in one. */
export const DEFAULT_USER_ORDER = 1000;

const NAMED_PROTOCOLS: Record<string, Omit<Protocol, 'name'>> = {
  tcp: { number: 6, families: [4, 6] },
  udp: { number: 17, families: [4, 6] },
  icmp: { number: 1, families: [4] },
  icmpv6: { number: 58, families: [6] },
  vrrp: { number: 112, families: [4, 6] },
  ipip: { number: 4, families: [4] },
};

const PORTED = new Set([6, 17]);

/** Parses a protocol; undefined `value` means every protocol. 0 also means every protocol, as in iptables. */
export function parseProtocol(value: string | number, path: FieldPath, report: Report): Protocol | null | undefined {
  if (typeof value === 'string' && value in NAMED_PROTOCOLS) {
    return { name: value, ...NAMED_PROTOCOLS[value]! };
  }
  const n = typeof value === 'number' ? value : /^\d{1,3}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > 255) {
    report(path, `unknown protocol ${JSON.stringify(value)}: use tcp, udp, icmp, icmpv6, vrrp, ipip or a number 0-255`);
    return undefined;
  }
  if (n === 0) return null;
  const named = Object.entries(NAMED_PROTOCOLS).find(([, p]) => p.number === n);
  if (named) return { name: named[0], ...named[1] };
  return { name: String(n), number: n, families: [4, 6] };
}

/** Parses one port or "low-high" range. */
export function parsePort(value: string | number, path: FieldPath, report: Report): PortRange | undefined {
  const valid = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
  if (typeof value === 'number' || /^\d+$/.test(value)) {
    const n = Number(value);
    if (!valid(n)) {
      report(path, `port ${JSON.stringify(value)} is out of range: ports are 1-65535`);
      return undefined;
    }
    return { from: n, to: n };
  }
  const m = /^(\d+)-(\d+)$/.exec(value);
  if (!m) {
    report(path, `${JSON.stringify(value)} is not a port or a range: write 8080 or "30000-32767"`);
    return undefined;
  }
  const from = Number(m[1]);
  const to = Number(m[2]);
  if (!valid(from) || !valid(to)) {
    report(path, `range ${JSON.stringify(value)} is out of range: ports are 1-65535`);
    return undefined;
  }
  if (from >= to) {
    report(path, `range ${JSON.stringify(value)}: the low port must be below the high port`);
    return undefined;
  }
  return { from, to };
}

function parsePeer(raw: NonNullable<RawIngressRule['from']>, path: FieldPath, report: Report): PeerSelector | undefined {
  if (raw.cidrs !== undefined) {
    if (raw.plane !== undefined || raw.roles !== undefined) {
      report(path, 'give either cidrs, or plane (with optional roles), not both');
      return undefined;
    }
    const cidrs: string[] = [];
    raw.cidrs.forEach((text, i) => {
      const addr = parseAddress(text);
      if (addr) {
        cidrs.push(`${addr.text}/${addr.family === 4 ? 32 : 128}`);
        return;
      }
      const { cidr, error } = parseCidr(text);
      if (cidr) cidrs.push(cidr.text);
      else report([...path, 'cidrs', i], error ?? 'not a CIDR');
    });
    return { kind: 'cidrs', cidrs: [...new Set(cidrs)].sort() };
  }
  if (raw.plane === undefined) {
    report(path, 'a peer needs plane (with optional roles) or cidrs; omit the peer to mean any address');
    return undefined;
  }
  if (raw.roles !== undefined) {
    if (raw.roles.length === 0) {
      report([...path, 'roles'], 'an empty role list matches no node: omit roles to mean every node');
      return undefined;
    }
    return { kind: 'plane', plane: raw.plane, roles: sortedRoles(raw.roles) };
  }
  return { kind: 'plane', plane: raw.plane };
}

export function sortedRoles(roles: readonly Role[]): Role[] {
  return [...new Set(roles)].sort();
}

function sanitizeComment(text: string, path: FieldPath, report: Report): string | undefined {
  // iptables comments are quoted in restore input: quotes, backslashes and
  // control characters would break the batch or the read-back.
  if (/["\\\n\r\t]/.test(text) || /[^\x20-\x7e]/.test(text)) {
    report(path, 'comments may hold printable ASCII only, without quotes or backslashes');
    return undefined;
  }
  return text;
}

function parseRule(raw: RawIngressRule | RawEgressRule, path: FieldPath, report: Report): PolicyRule | undefined {
  const rule: PolicyRule = { action: raw.action };
  if (raw.protocol !== undefined) {
    const p = parseProtocol(raw.protocol, [...path, 'protocol'], report);
    if (p === undefined) return undefined;
    if (p !== null) rule.protocol = p;
  }
  if (raw.ports !== undefined) {
    if (!rule.protocol || !PORTED.has(rule.protocol.number)) {
      report([...path, 'ports'], 'ports need protocol tcp or udp');
      return undefined;
    }
    const ports: PortRange[] = [];
    raw.ports.forEach((p, i) => {
      const r = parsePort(p, [...path, 'ports', i], report);
      if (r) ports.push(r);
    });
    rule.ports = ports;
  }
  const peerRaw = 'from' in raw ? raw.from : 'to' in raw ? raw.to : undefined;
  if (peerRaw !== undefined) {
    const peer = parsePeer(peerRaw, [...path, 'from' in raw ? 'from' : 'to'], report);
    if (!peer) return undefined;
    rule.peer = peer;
  }
  if (raw.comment !== undefined) {
    const c = sanitizeComment(raw.comment, [...path, 'comment'], report);
    if (c !== undefined) rule.comment = c;
  }
  return rule;
}

export function parsePolicy(raw: RawPolicy, path: FieldPath, report: Report, source: Policy['source']): Policy | undefined {
  const appliesTo: Policy['appliesTo'] = { plane: raw.appliesTo.plane };
  if (raw.appliesTo.roles !== undefined) {
    if (raw.appliesTo.roles.length === 0) {
      report([...path, 'appliesTo', 'roles'], 'an empty role list applies to no node: omit roles to mean every node');
      return undefined;
    }
    appliesTo.roles = sortedRoles(raw.appliesTo.roles);
  }
  const parseAll = <T extends RawIngressRule | RawEgressRule>(list: T[] | undefined, key: 'ingress' | 'egress') =>
    (list ?? []).map((r, i) => parseRule(r, [...path, key, i], report)).filter((r): r is PolicyRule => r !== undefined);
  return {
    name: raw.name,
    order: raw.order ?? DEFAULT_USER_ORDER,
    appliesTo,
    ingress: parseAll(raw.ingress, 'ingress'),
    egress: parseAll(raw.egress, 'egress'),
    source,
  };
}
