// What `verify` expects: for every peer of the membership, every plane
// address, every TCP port a policy or the failsafe names (and one nobody
// names, per plane), the answer the policies give to a new connection from
// here: the peer's ingress policy (the compiler run for the peer's roles, the
// same code as `explain`) and, from a member, this node's own egress policy
// (a probe leaves through it). Pure.
import { compile } from '../compile/compile.js';
import { explain } from '../compile/explain.js';
import type { HostInterface } from '../compile/resolve.js';
import type { Ruleset } from '../compile/ruleset.js';
import { addressFacts } from '../config/addresses.js';
import type { Config, Family, Inventory, InventoryNode, Plane } from '../config/model.js';
import { PLANES } from '../config/model.js';
import { effectivePolicies } from '../policy/effective.js';

export type Answer = 'reached' | 'filtered';

export interface Check {
  node: string;
  address: string;
  plane: Plane;
  proto: 'tcp' | 'udp';
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

const TCP = 6;
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

/** The TCP ports a policy or the failsafe names on a plane (ranges by their ends), and the plane's unlisted port. */
export function portsOf(config: Config, plane: Plane): { listed: number[]; unlisted: number } {
  const policies = effectivePolicies(config.policies);
  const ports = new Set<number>();
  for (const p of policies) {
    if (p.appliesTo.plane !== plane) continue;
    for (const r of p.ingress) {
      if (r.protocol && r.protocol.number !== TCP) continue;
      for (const range of r.ports ?? []) {
        ports.add(range.from);
        ports.add(range.to);
      }
    }
  }
  for (const f of config.failsafe.inbound) {
    if (f.protocol !== 'tcp') continue;
    ports.add(f.ports.from);
    ports.add(f.ports.to);
  }
  const named = (port: number) =>
    ports.has(port) ||
    policies.some((p) => p.ingress.some((r) => (r.ports ?? []).some((range) => port >= range.from && port <= range.to)));
  const unlisted = UNLISTED_CANDIDATES.find((p) => !named(p)) ?? 65_000;
  return { listed: [...ports].sort((a, b) => a - b), unlisted };
}

function sameFamily(a: string, family: Family): boolean {
  return addressFacts(a)?.family === family;
}

/** Every check, in the order they are listed: node, plane, address, port. */
export function planChecks(config: Config, inventory: Inventory, origin: Origin): Check[] {
  const checks: Check[] = [];
  const self = origin.kind === 'member' ? inventory.nodes.find((n) => n.name === origin.name) : undefined;
  const mine = self ? rulesetFor(config, inventory, self) : undefined;
  const byRoles = new Map<string, Ruleset>();
  // The same for every peer: worked out once per plane.
  const ports = Object.fromEntries(PLANES.map((plane) => [plane, portsOf(config, plane)])) as Record<
    Plane,
    ReturnType<typeof portsOf>
  >;
  for (const peer of inventory.nodes) {
    if (peer.name === self?.name) continue;
    const key = [...peer.roles].sort().join(',');
    let rs = byRoles.get(key);
    if (!rs) {
      rs = rulesetFor(config, inventory, peer);
      byRoles.set(key, rs);
    }
    for (const plane of PLANES) {
      const { listed, unlisted } = ports[plane];
      for (const address of peer.addresses[plane]) {
        const family = addressFacts(address)!.family;
        const from = origin.addresses[plane].find((a) => sameFamily(a, family));
        if (!from) continue; // no address of this family on the plane here: nothing to probe from
        for (const port of [...listed, unlisted]) {
          const ingress = explain(rs, { from, to: address, protocol: TCP, port, direction: 'ingress', plane });
          const egress = mine ? explain(mine, { from, to: address, protocol: TCP, port, direction: 'egress', plane }) : undefined;
          const outAllows = !egress || egress.verdict === 'allow';
          const inAllows = ingress.verdict === 'allow';
          const expected: Answer = outAllows && inAllows ? 'reached' : 'filtered';
          const rule = !outAllows ? `${self?.name} egress: ${egress!.reason}` : `${peer.name} ingress: ${ingress.reason}`;
          checks.push({ node: peer.name, address, plane, proto: 'tcp', port, unlisted: port === unlisted, expected, rule });
        }
      }
    }
  }
  return checks;
}
