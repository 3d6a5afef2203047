// `artesca-fw explain`: walks the compiled ruleset (the same value that was
// rendered and loaded) for one new packet and says what decides it. Pure.
import { inCidr, parseAddress, parseCidr } from '../config/addresses.js';
import type { Family, Plane } from '../config/model.js';
import { chainNames } from './compile.js';
import type { AddressSet, Direction, Endpoint, Match, Rule, Ruleset } from './ruleset.js';

export interface PacketQuery {
  from: string;
  to: string;
  /** IP protocol number. */
  protocol: number;
  port?: number;
  icmpType?: number;
  direction: Direction;
  /** Pick the endpoint carrying this plane instead of finding it by address. */
  plane?: Plane;
}

export interface Explanation {
  verdict: 'allow' | 'deny' | 'not policed';
  /** In audit mode a deny is only logged: the packet passes. */
  audit: boolean;
  endpoint?: string;
  interface?: string;
  chain?: string;
  /** 1-based position of the deciding rule in its chain. */
  position?: number;
  rule?: Rule;
  /** log rules the packet met on the way. */
  logged: string[];
  reason: string;
}

function inSet(set: AddressSet | undefined, addr: string): boolean {
  if (!set) return false;
  const a = parseAddress(addr);
  if (!a) return false;
  if (set.type === 'hash:ip') return set.members.some((m) => parseAddress(m)?.text === a.text);
  return set.members.some((m) => inNet(m.includes('/') ? m : `${m}/${a.family === 4 ? 32 : 128}`, addr));
}

function inNet(cidr: string, addr: string): boolean {
  const c = parseCidr(cidr).cidr;
  return c !== undefined && inCidr(addr, c);
}

/** Does `m` match a new (conntrack NEW) packet `q`? Interface and address-type matches are settled by the caller. */
function matches(m: Match, q: PacketQuery, sets: Map<string, AddressSet>): boolean {
  if (m.ctstate && !m.ctstate.includes('NEW')) return false;
  if (m.ctstateNot?.includes('NEW')) return false;
  if (m.protocol !== undefined && m.protocol !== q.protocol) return false;
  if (m.dports) {
    if (q.port === undefined) return false;
    if (!m.dports.some((p) => q.port! >= p.from && q.port! <= p.to)) return false;
  }
  if (m.icmpType !== undefined && m.icmpType !== q.icmpType) return false;
  if (m.srcSet && !inSet(sets.get(m.srcSet), q.from)) return false;
  if (m.dstSet && !inSet(sets.get(m.dstSet), q.to)) return false;
  if (m.notSrcSet && inSet(sets.get(m.notSrcSet), q.from)) return false;
  if (m.srcNet && !inNet(m.srcNet, q.from)) return false;
  if (m.dstNet && !inNet(m.dstNet, q.to)) return false;
  if (m.mark !== undefined) return false;
  return true;
}

function findEndpoint(rs: Ruleset, q: PacketQuery): Endpoint | undefined {
  if (q.plane) return rs.endpoints.find((e) => e.planes.includes(q.plane!));
  const local = q.direction === 'ingress' ? q.to : q.from;
  const a = parseAddress(local)?.text;
  return rs.endpoints.find((e) => e.addresses.includes(a ?? local));
}

export function explain(rs: Ruleset, q: PacketQuery): Explanation {
  const family: Family = parseAddress(q.from)?.family ?? 4;
  const logged: string[] = [];
  const ep = findEndpoint(rs, q);
  if (!ep) {
    const local = q.direction === 'ingress' ? q.to : q.from;
    return {
      verdict: 'not policed',
      audit: false,
      logged,
      reason: `${local} is not an address of a plane interface of ${rs.node.name} (give --plane to choose one)`,
    };
  }
  const sets = new Map(rs.sets.map((s) => [s.name, s]));
  const fr = rs.families.find((f) => f.family === family)!;
  const names = chainNames(ep.id);
  const chainName = q.direction === 'ingress' ? names.in : names.out;
  const chain = fr.chains.find((c) => c.name === chainName);
  if (!chain) return { verdict: 'not policed', audit: false, logged, reason: `no chain ${chainName}` };
  const audit = rs.mode === 'audit';
  for (const [i, rule] of chain.rules.entries()) {
    if (!matches(rule.match, q, sets)) continue;
    const v = rule.verdict;
    const base = { endpoint: ep.id, interface: ep.interface, chain: chain.name, position: i + 1, rule, logged };
    if (v.kind === 'log') {
      logged.push(rule.comment);
      continue;
    }
    if (v.kind === 'pass') return { verdict: 'allow', audit: false, ...base, reason: rule.comment };
    if (v.kind === 'goto' && v.chain.endsWith('-DENY')) {
      return {
        verdict: 'deny',
        audit,
        ...base,
        reason: audit ? `${rule.comment} (audit mode: logged, let through)` : rule.comment,
      };
    }
    if (v.kind === 'drop' || v.kind === 'reject') return { verdict: 'deny', audit, ...base, reason: rule.comment };
  }
  return { verdict: 'deny', audit, endpoint: ep.id, chain: chain.name, logged, reason: 'end of chain' };
}

export function formatExplanation(q: PacketQuery, e: Explanation, protoName: string): string {
  const what = `${protoName}${q.port !== undefined ? ` port ${q.port}` : ''} ${q.from} -> ${q.to} (${q.direction})`;
  if (e.verdict === 'not policed') return `NOT POLICED ${what}: ${e.reason}`;
  const where = `on ${e.interface} [${e.chain} rule ${e.position}]`;
  const logs = e.logged.length ? `; logged by ${e.logged.join(', ')}` : '';
  return `${e.verdict === 'allow' ? 'ALLOW' : e.audit ? 'DENY (audit: let through)' : 'DENY'} ${what} ${where}: ${e.reason}${logs}`;
}
