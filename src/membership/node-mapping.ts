// Node objects -> inventory entries (pure). The mapping of kubernetes.md: roles
// from `<roleLabelPrefix><role>` labels, plane IPs from an address type, an
// annotation, or the first address inside the plane CIDR. A Node whose plane IP
// cannot be found, or lies outside the plane CIDR, is left out and named; it
// never blocks the others.
import { addressFacts, inCidr } from '../config/addresses.js';
import type { InventoryNode, KubernetesSource, NodeIpSource, Plane, PlaneNetwork, Role } from '../config/model.js';
import { PLANES, ROLES } from '../config/model.js';
import { planeCidrs } from '../config/validate-config.js';
import type { NodeObject } from './node-object.js';

/** A Node that is not in the membership, and why. */
export interface LeftOutNode {
  node: string;
  field: string;
  reason: string;
}

export interface Membership {
  /** Sorted by name. */
  nodes: InventoryNode[];
  leftOut: LeftOutNode[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

function rolesOf(node: NodeObject, prefix: string): Role[] {
  const roles: Role[] = [];
  for (const key of Object.keys(node.metadata.labels ?? {})) {
    if (!key.startsWith(prefix)) continue;
    const role = key.slice(prefix.length);
    if ((ROLES as readonly string[]).includes(role)) roles.push(role as Role);
  }
  // slice(): an array grown by push keeps room for 16 more; 5,000 Nodes keep theirs for good.
  return roles.slice().sort();
}

/** The candidate addresses for a plane, in the Node's order, and the field they came from. */
function candidates(node: NodeObject, source: NodeIpSource): { field: string; texts: string[] } {
  const addresses = node.status?.addresses ?? [];
  switch (source.kind) {
    case 'addressType':
      return {
        field: `status.addresses[type=${source.type}]`,
        texts: addresses.filter((a) => a.type === source.type).map((a) => a.address),
      };
    case 'annotation': {
      const value = node.metadata.annotations?.[source.key];
      // An address or address/prefix (calico writes 10.200.0.3/24); a comma adds one of the other family.
      const texts = value === undefined ? [] : value.split(',').map((v) => v.trim().replace(/\/\d{1,3}$/, ''));
      return { field: `metadata.annotations[${source.key}]`, texts };
    }
    case 'fromPlane':
      return { field: 'status.addresses', texts: addresses.map((a) => a.address) };
  }
}

/** The plane addresses of one Node (at most one per family), or why there are none. */
function planeAddresses(
  node: NodeObject,
  plane: Plane,
  source: NodeIpSource,
  net: PlaneNetwork,
): { addresses: string[] } | { field: string; reason: string } {
  const { field, texts } = candidates(node, source);
  const cidrs = planeCidrs(net);
  const out: string[] = [];
  const families = new Set<number>();
  let outside: string | undefined;
  for (const text of texts) {
    const facts = addressFacts(text);
    if (!facts) {
      if (source.kind === 'fromPlane') continue;
      return { field, reason: `"${text}" is not an IP address` };
    }
    if (families.has(facts.family)) continue;
    if (cidrs.length > 0) {
      const sameFamily = cidrs.filter((c) => c.family === facts.family);
      // A family the plane has no CIDR for is not on this plane (a dual-stack InternalIP, for one).
      if (sameFamily.length === 0) continue;
      if (!sameFamily.some((c) => inCidr(facts.text, c))) {
        outside ??= facts.text;
        continue;
      }
    }
    families.add(facts.family);
    out.push(facts.text);
  }
  if (out.length > 0) return { addresses: out.slice() };
  if (outside) return { field, reason: `${outside} is outside the ${plane} CIDR ${net.cidrs.join(', ')}` };
  if (source.kind === 'fromPlane') return { field, reason: `no address in the ${plane} CIDR ${net.cidrs.join(', ')}` };
  return { field, reason: texts.length === 0 ? 'missing' : `no usable ${plane} address in "${texts.join(',')}"` };
}

/** One Node on its own: its inventory entry, or why it is left out. */
function mapNode(node: NodeObject, k8s: KubernetesSource, networks: Record<Plane, PlaneNetwork>): InventoryNode | LeftOutNode {
  const name = node.metadata.name;
  if (!NAME.test(name)) return { node: name, field: 'metadata.name', reason: 'not a host name' };
  const addresses = {} as Record<Plane, string[]>;
  for (const plane of PLANES) {
    const found = planeAddresses(node, plane, k8s.ip[plane], networks[plane]);
    if ('reason' in found) return { node: name, field: found.field, reason: `${plane} IP: ${found.reason}` };
    addresses[plane] = found.addresses;
  }
  return { name, roles: rolesOf(node, k8s.roleLabelPrefix), addresses };
}

/** The field of a Node left out because another Node holds its address: no field of its own is wrong. */
const CONFLICT_FIELD = '';

/**
 * Remembers each Node's own mapping by object: a watch event replaces one
 * Node object, so an event maps one Node, not all of them. Valid for one
 * mapping configuration (a new one needs a new memo).
 */
export type MappingMemo = WeakMap<NodeObject, InventoryNode | LeftOutNode>;

function sortedByName(nodes: readonly NodeObject[]): boolean {
  for (let i = 1; i < nodes.length; i++) if (nodes[i - 1]!.metadata.name > nodes[i]!.metadata.name) return false;
  return true;
}

/**
 * The membership the Nodes describe. `nodes` may come in any order: the result
 * is sorted by name, so the same cluster always gives the same inventory.
 */
export function membershipFromNodes(
  nodes: Iterable<NodeObject>,
  k8s: KubernetesSource,
  networks: Record<Plane, PlaneNetwork>,
  memo?: MappingMemo,
): Membership {
  const sorted = [...nodes];
  // The informer keeps the Nodes in the order of the list, which the API server sorts by name:
  // checking that costs one comparison per Node, a sort many.
  if (!sortedByName(sorted)) {
    sorted.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  }
  const out: InventoryNode[] = [];
  const leftOut: LeftOutNode[] = [];
  const owner: Record<Plane, Map<string, string>> = { controlPlane: new Map(), workloadPlane: new Map() };
  for (const node of sorted) {
    const mapped = mappedNode(node, k8s, networks, memo);
    if ('reason' in mapped) {
      leftOut.push(mapped);
      continue;
    }
    // Across Nodes: an address belongs to the first Node (by name) that claims it.
    let taken: LeftOutNode | undefined;
    for (const plane of PLANES) {
      const a = mapped.addresses[plane].find((x) => owner[plane].has(x));
      if (a) {
        taken = {
          node: mapped.name,
          field: CONFLICT_FIELD,
          reason: `${plane} IP ${a} is already the address of Node "${owner[plane].get(a)}"`,
        };
        break;
      }
    }
    if (taken) {
      leftOut.push(taken);
      continue;
    }
    for (const plane of PLANES) for (const a of mapped.addresses[plane]) owner[plane].set(a, mapped.name);
    out.push(mapped);
  }
  return { nodes: out, leftOut };
}

function mappedNode(node: NodeObject, k8s: KubernetesSource, networks: Record<Plane, PlaneNetwork>, memo?: MappingMemo) {
  let mapped = memo?.get(node);
  if (!mapped) {
    mapped = mapNode(node, k8s, networks);
    memo?.set(node, mapped);
  }
  return mapped;
}

/** Where `name` is in nodes sorted by name, or -(where it would go) - 1. */
function searchName(nodes: readonly InventoryNode[], name: string): number {
  let lo = 0;
  let hi = nodes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const other = nodes[mid]!.name;
    if (other === name) return mid;
    if (other < name) lo = mid + 1;
    else hi = mid;
  }
  return -lo - 1;
}

/**
 * The membership after one Node changed (`node`: its object now, undefined
 * once deleted), from the membership before that change: what
 * membershipFromNodes gives for all Nodes, with one Node mapped instead of
 * all. null when the change may move another Node in or out (a Node left
 * out before, this one left out now, an address another Node holds): the
 * caller maps all Nodes again.
 */
export function membershipAfter(
  before: Membership,
  name: string,
  node: NodeObject | undefined,
  k8s: KubernetesSource,
  networks: Record<Plane, PlaneNetwork>,
  memo?: MappingMemo,
): Membership | null {
  if (before.leftOut.some((l) => l.node === name || l.field === CONFLICT_FIELD)) return null;
  const mapped = node ? mappedNode(node, k8s, networks, memo) : undefined;
  if (mapped && 'reason' in mapped) return null;
  const at = searchName(before.nodes, name);
  if (mapped) {
    // Plain loops: this runs over every member for each event.
    for (const plane of PLANES) {
      const mine = mapped.addresses[plane];
      for (let i = 0; i < before.nodes.length; i++) {
        if (i === at) continue;
        const theirs = before.nodes[i]!.addresses[plane];
        for (let j = 0; j < theirs.length; j++) if (mine.includes(theirs[j]!)) return null;
      }
    }
  } else if (at < 0) return before; // a Node that was not a member is gone
  const nodes = before.nodes.slice();
  if (at >= 0 && mapped) nodes[at] = mapped;
  else if (at >= 0) nodes.splice(at, 1);
  else nodes.splice(-at - 1, 0, mapped!);
  return { nodes, leftOut: before.leftOut };
}
