// What `verify` expects: for every peer of the membership (and every VIP),
// every plane address, every TCP and UDP port a policy or the failsafe names
// (and one nobody names, per plane and protocol), the answer the policies
// give to a new connection from here: the peer's ingress policy (the compiler
// run for the peer's roles, the same code as `explain`) and, from a member,
// this node's own egress policy (a probe leaves through it). Other protocols
// a policy names are listed as not probed. Pure.
import { compile } from '../compile/compile.js';
import { explain } from '../compile/explain.js';
import type { HostInterface } from '../compile/resolve.js';
import type { Ruleset } from '../compile/ruleset.js';
import { addressFacts } from '../config/addresses.js';
import type { Config, FailsafeEntry, Family, Inventory, InventoryNode, Plane, Policy } from '../config/model.js';
import { PLANES, VIP_KEY } from '../config/model.js';
import { effectivePolicies } from '../policy/effective.js';

export type Answer = 'reached' | 'filtered';

export interface Check {
  node: string;
  /** Set when `address` is a VIP: `node` is the member found holding it. */
  vip?: boolean;
  address: string;
  plane: Plane;
  proto: Proto;
  port: number;
  /** Named by no policy and no failsafe entry: must be filtered. */
  unlisted: boolean;
  expected: Answer;
  /** The rule that decides: the peer's (ingress) or this node's (egress). */
  rule: string;
}

/** Where the probes come from: a member (its own egress policy applies) or a machine outside the membership. */
export type Origin =
  | { kind: 'member'; name: string; addresses: Record<Plane, string[]> }
  | { kind: 'outside'; addresses: Record<Plane, string[]> };

export type Proto = 'tcp' | 'udp';
const PROTO_NUMBER: Record<Proto, number> = { tcp: 6, udp: 17 };
export const PROTOS: Proto[] = ['tcp', 'udp'];

/** What verify leaves out, and why (`notProbed` counts them). */
export interface Skipped {
  plane: Plane;
  proto: string;
  port: number | null;
  address?: string;
  why: string;
}
/** The first of these ports no policy names is the unlisted port of a plane. */
const UNLISTED_CANDIDATES = [9999, 19999, 29999, 39999, 49999, 59999];

/** Interfaces a node would have: its plane addresses on the interface the config names (or one per plane). */
function interfacesOf(config: Config, n: { addresses: Record<Plane, string[]> }): HostInterface[] {
  const byName = new Map<string, HostInterface>();
  for (const plane of PLANES) {
    const name = config.networks[plane].interface ?? (plane === 'controlPlane' ? 'afw-cp' : 'afw-wp');
    const iface = byName.get(name) ?? { name, addresses: [] };
    for (const a of n.addresses[plane]) {
      const f = addressFacts(a);
      if (f) iface.addresses.push({ address: f.text, family: f.family });
    }
    byName.set(name, iface);
  }
  return [...byName.values()];
}

/** The ruleset a node of these roles compiles from this config and membership. */
export function rulesetFor(config: Config, inventory: Inventory, node: InventoryNode): Ruleset {
  return compile({
    config: { ...config, node: { name: node.name, roles: [...node.roles] } },
    inventory,
    interfaces: interfacesOf(config, node),
  });
}

/** The ports of `proto` a policy or the failsafe names on a plane (ranges by their ends), and the plane's unlisted port. */
function portsOf(
  policies: Policy[],
  failsafe: FailsafeEntry[],
  plane: Plane,
  proto: Proto,
): { listed: number[]; unlisted: number } {
  const number = PROTO_NUMBER[proto];
  const ports = new Set<number>();
  for (const p of policies) {
    if (p.appliesTo.plane !== plane) continue;
    for (const r of p.ingress) {
      if (r.protocol && r.protocol.number !== number) continue;
      for (const range of r.ports ?? []) {
        ports.add(range.from);
        ports.add(range.to);
      }
    }
  }
  for (const f of failsafe) {
    if (f.protocol !== proto) continue;
    ports.add(f.ports.from);
    ports.add(f.ports.to);
  }
  const named = (port: number) =>
    ports.has(port) ||
    policies.some((p) => p.ingress.some((r) => (r.ports ?? []).some((range) => port >= range.from && port <= range.to)));
  const unlisted = UNLISTED_CANDIDATES.find((p) => !named(p)) ?? 65_000;
  return { listed: [...ports].sort((a, b) => a - b), unlisted };
}

/** The protocols other than TCP and UDP that ingress rules name on each plane: no probe can tell their answer. */
function unprobedProtocols(policies: Policy[]): Skipped[] {
  const out = new Map<string, Skipped>();
  for (const p of policies)
    for (const r of p.ingress) {
      if (!r.protocol || r.protocol.number === 6 || r.protocol.number === 17) continue;
      const plane = p.appliesTo.plane;
      out.set(`${plane}/${r.protocol.name}`, {
        plane,
        proto: r.protocol.name,
        port: null,
        why: 'no probe can tell whether it got through',
      });
    }
  return [...out.values()];
}

function sameFamily(a: string, family: Family): boolean {
  return addressFacts(a)?.family === family;
}

/** A VIP's probe, before it is known which member holds the VIP: what each member would answer if it held it. */
export interface VipCheck {
  address: string;
  plane: Plane;
  proto: Proto;
  port: number;
  unlisted: boolean;
  candidates: { node: string; expected: Answer; rule: string }[];
}

/** One probe's plan: what this node's egress and the peer's ingress decide. */
function decide(
  mine: Ruleset | undefined,
  selfName: string | undefined,
  peer: InventoryNode,
  rs: Ruleset,
  q: { from: string; to: string; proto: Proto; port: number; plane: Plane },
): { expected: Answer; rule: string } {
  const query = { from: q.from, to: q.to, port: q.port, plane: q.plane, protocol: PROTO_NUMBER[q.proto] };
  const ingress = explain(rs, { ...query, direction: 'ingress' });
  const egress = mine ? explain(mine, { ...query, direction: 'egress' }) : undefined;
  const outAllows = !egress || egress.verdict === 'allow';
  const inAllows = ingress.verdict === 'allow';
  return {
    expected: outAllows && inAllows ? 'reached' : 'filtered',
    rule: !outAllows ? `${selfName} egress: ${egress!.reason}` : `${peer.name} ingress: ${ingress.reason}`,
  };
}

/** Plans the probes of every peer's plane addresses and of every VIP not on this machine. */
export function planChecks(
  config: Config,
  inventory: Inventory,
  origin: Origin,
  localVips: ReadonlySet<string> = new Set(),
): { checks: Check[]; vipChecks: VipCheck[]; skipped: Skipped[] } {
  const checks: Check[] = [];
  const vipChecks: VipCheck[] = [];
  const self = origin.kind === 'member' ? inventory.nodes.find((n) => n.name === origin.name) : undefined;
  const mine = self ? rulesetFor(config, inventory, self) : undefined;
  const byRoles = new Map<string, Ruleset>();
  const rulesetOf = (peer: InventoryNode) => {
    const key = [...peer.roles].sort().join(',');
    let rs = byRoles.get(key);
    if (!rs) {
      rs = rulesetFor(config, inventory, peer);
      byRoles.set(key, rs);
    }
    return rs;
  };
  // The policies in force, and what they name, are the same for every peer: worked out once.
  const policies = effectivePolicies(config.policies, config.metrics.listen?.port);
  const ports = new Map(
    PLANES.flatMap((plane) =>
      PROTOS.map((proto) => [`${plane}/${proto}`, portsOf(policies, config.failsafe.inbound, plane, proto)]),
    ),
  );
  const probesOf = (plane: Plane) =>
    PROTOS.flatMap((proto) => {
      const { listed, unlisted } = ports.get(`${plane}/${proto}`)!;
      return [...listed, unlisted].map((port) => ({ proto, port, unlisted: port === unlisted }));
    });
  const peers = inventory.nodes.filter((n) => n.name !== self?.name);
  for (const peer of peers) {
    const rs = rulesetOf(peer);
    for (const plane of PLANES) {
      for (const address of peer.addresses[plane]) {
        const from = origin.addresses[plane].find((a) => sameFamily(a, addressFacts(address)!.family));
        if (!from) continue; // no address of this family on the plane here: nothing to probe from
        for (const { proto, port, unlisted } of probesOf(plane)) {
          const d = decide(mine, self?.name, peer, rs, { from, to: address, proto, port, plane });
          checks.push({ node: peer.name, address, plane, proto, port, unlisted, ...d });
        }
      }
    }
  }
  for (const plane of PLANES) {
    for (const address of config.virtualIPs[VIP_KEY[plane]]) {
      if (localVips.has(address)) continue; // on this machine: a probe would not cross a plane interface
      const from = origin.addresses[plane].find((a) => sameFamily(a, addressFacts(address)!.family));
      if (!from) continue;
      for (const { proto, port, unlisted } of probesOf(plane)) {
        const candidates = peers.map((peer) => ({
          node: peer.name,
          ...decide(mine, self?.name, peer, rulesetOf(peer), { from, to: address, proto, port, plane }),
        }));
        vipChecks.push({ address, plane, proto, port, unlisted, candidates });
      }
    }
  }
  return { checks, vipChecks, skipped: unprobedProtocols(policies) };
}

/**
 * A VIP's probe judged once its holder is known (`holder`), or, when no
 * holder could be found, against what every member would answer if all
 * agree: otherwise it cannot be judged (undefined).
 */
export function judgeVip(v: VipCheck, holder: string | undefined): Check | undefined {
  const { candidates, ...rest } = v;
  const held = holder ? candidates.find((c) => c.node === holder) : undefined;
  if (held) return { ...rest, node: held.node, vip: true, expected: held.expected, rule: held.rule };
  const first = candidates[0];
  if (!first || candidates.some((c) => c.expected !== first.expected)) return undefined;
  return { ...rest, node: '(holder unknown)', vip: true, expected: first.expected, rule: `any holder: ${first.rule}` };
}
