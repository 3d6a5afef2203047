// Peer sets: the addresses a rule's `from` / `to` stands for, as ipsets. Rules
// reference sets by a name that depends on what the set means (plane + roles),
// never on its members, so an inventory change only changes set contents and
// the rule count does not grow with the number of nodes.
import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { familyOf } from '../config/addresses.js';
import type { Config, Family, Inventory, InventoryNode, Plane, Role } from '../config/model.js';
import { PLANES, VIP_KEY } from '../config/model.js';
import { differingWindow } from './differing-window.js';
import { type AddressSet, MAX_SET_NAME, SET_PREFIX } from './ruleset.js';

const ROLE_CODE: Record<Role, string> = { bootstrap: 'bs', etcd: 'et', infra: 'in', master: 'ms', registry: 'rg' };
const PLANE_CODE: Record<Plane, string> = { controlPlane: 'cp', workloadPlane: 'wp' };

/** Suffix of the temporary set a new content is built in before `swap`. */
export const SWAP_SUFFIX = '-swp';

export function planeSetName(plane: Plane, roles: readonly Role[] | undefined, family: Family): string {
  const who = roles
    ? roles
        .map((r) => ROLE_CODE[r])
        .sort()
        .join('-')
    : 'all';
  return `${SET_PREFIX}${family}-${PLANE_CODE[plane]}-${who}`;
}

export function netSetName(cidrs: readonly string[], family: Family): string {
  const digest = createHash('sha256').update(cidrs.join(',')).digest('hex').slice(0, 12);
  return `${SET_PREFIX}${family}-net-${digest}`;
}

/**
 * The plane sets of the last compile, with the nodes and VIPs they were made
 * from: a compile whose inventory differs from those nodes in a few of them
 * (a Node event, an edit of one node) changes only the members those nodes
 * bring or take, and gives an unchanged set again as the very same object.
 * Owned by the caller (the daemon), passed to each compile.
 */
export interface PeerSetsMemo {
  last: { nodes: readonly InventoryNode[]; vips: string; sets: ReadonlyMap<string, AddressSet> } | null;
}

/** More nodes changed than this: each set is made again from all nodes (an update would cost more). */
const MAX_CHANGED_NODES = 64;

/** The nodes that differ (by identity) between two inventories: those of the window between the common start and end. */
interface NodeChange {
  gone: readonly InventoryNode[];
  came: readonly InventoryNode[];
  /** The nodes in both that hold an address one of the gone nodes held (none while node addresses are unique). */
  sharing: readonly InventoryNode[];
}

function nodeChange(before: readonly InventoryNode[], after: readonly InventoryNode[]): NodeChange | null {
  const { start, aEnd: beforeEnd, bEnd: afterEnd } = differingWindow(before, after);
  if (beforeEnd - start + (afterEnd - start) > MAX_CHANGED_NODES) return null;
  const gone = before.slice(start, beforeEnd);
  const came = after.slice(start, afterEnd);
  const goneAddresses = new Set(gone.flatMap((n) => [...n.addresses.controlPlane, ...n.addresses.workloadPlane]));
  const sharing: InventoryNode[] = [];
  if (goneAddresses.size > 0) {
    for (let i = 0; i < after.length; i++) {
      if (i >= start && i < afterEnd) continue; // came: not in both
      const n = after[i]!;
      if (
        n.addresses.controlPlane.some((a) => goneAddresses.has(a)) ||
        n.addresses.workloadPlane.some((a) => goneAddresses.has(a))
      )
        sharing.push(n);
    }
  }
  return { gone, came, sharing };
}

export class PeerSets {
  private readonly sets = new Map<string, AddressSet>();
  private readonly planeSets = new Map<string, AddressSet>();
  /** By plane and family, and each list by role: see sortedAddresses. */
  private sorted: Record<Plane, Record<Family, HeldAddress[]>> | null = null;
  private readonly byRole = new Map<readonly HeldAddress[], Map<Role, HeldAddress[]>>();
  private readonly vips: string;
  /** How this inventory differs from the memo's (null: no memo, another VIP list, or too many nodes changed). */
  private readonly change: NodeChange | null = null;

  constructor(
    private readonly config: Config,
    private readonly inventory: Inventory,
    private readonly memo?: PeerSetsMemo,
  ) {
    this.vips = JSON.stringify(config.virtualIPs);
    const last = memo?.last;
    if (last && last.vips === this.vips) this.change = nodeChange(last.nodes, inventory.nodes);
  }

  /** The set of plane addresses of nodes with one of `roles` (all nodes plus the plane's VIPs without roles). */
  plane(plane: Plane, roles: readonly Role[] | undefined, family: Family): string {
    const name = planeSetName(plane, roles, family);
    if (this.sets.has(name)) return name;
    const before = this.change ? this.memo?.last?.sets.get(name) : undefined;
    const set = before ? this.updated(before, plane, roles, family) : this.made(name, plane, roles, family);
    this.add(set);
    this.planeSets.set(name, set);
    return name;
  }

  private made(name: string, plane: Plane, roles: readonly Role[] | undefined, family: Family): AddressSet {
    // A set of one role takes the holders of that role; of several, all addresses, filtered.
    const one = roles?.length === 1;
    const sorted = one ? this.holdersOf(plane, family, roles[0]!) : this.sortedAddresses(plane, family);
    const filter = one ? undefined : roles;
    const vips = roles ? [] : this.config.virtualIPs[VIP_KEY[plane]].filter((vip) => familyOf(vip) === family);
    const members: string[] = [];
    // The VIPs (a few) go in at their place as the nodes' addresses are taken in order.
    const vipKeys = sortAddresses(vips).map((text) => ({ text, key: sortKey(text) }));
    let v = 0;
    // Addresses are canonical, so equal addresses are equal texts, next to each other once sorted.
    const take = (text: string) => {
      if (text !== members[members.length - 1]) members.push(text);
    };
    for (let i = 0; i < sorted.length; i++) {
      const a = sorted[i]!;
      if (filter && !holdsRole(a.node, filter)) continue;
      while (v < vipKeys.length && compareKeys(vipKeys[v]!.key, a.key) < 0) take(vipKeys[v++]!.text);
      take(a.text);
    }
    while (v < vipKeys.length) take(vipKeys[v++]!.text);
    return {
      name,
      family,
      type: 'hash:ip',
      members,
      describes: roles ? `${plane} [${roles.join(', ')}]` : `${plane} (all nodes and VIPs)`,
    };
  }

  /**
   * Every node's addresses of one plane and family, sorted as sortAddresses
   * sorts (ties in inventory order), with the node holding each: made once per
   * compile, for all planes and families in one pass over the nodes. Each set
   * takes its members from them in order, with no sort of its own.
   */
  private sortedAddresses(plane: Plane, family: Family): readonly HeldAddress[] {
    if (!this.sorted) {
      const lists = { controlPlane: { 4: [], 6: [] }, workloadPlane: { 4: [], 6: [] } } as Record<
        Plane,
        Record<Family, HeldAddress[]>
      >;
      for (const node of this.inventory.nodes)
        for (const p of PLANES)
          for (const text of node.addresses[p]) {
            // Plane addresses are addresses, never prefixes: an IPv4 one sorts by its value alone.
            if (familyOf(text) === 4) lists[p][4].push({ text, node, key: sortKeyV4(text) * 64 });
            else lists[p][6].push({ text, node, key: sortKey(text) });
          }
      this.sorted = lists;
      for (const p of PLANES) for (const f of [4, 6] as const) lists[p][f].sort((a, b) => compareKeys(a.key, b.key));
    }
    return this.sorted[plane][family];
  }

  /** sortedAddresses of the holders of `role` (usually few): made once per compile, for all roles at once. */
  private holdersOf(plane: Plane, family: Family, role: Role): readonly HeldAddress[] {
    const all = this.sortedAddresses(plane, family);
    let byRole = this.byRole.get(all);
    if (!byRole) {
      byRole = new Map<Role, HeldAddress[]>();
      for (const a of all)
        for (const r of a.node.roles) {
          const list = byRole.get(r);
          if (list) list.push(a);
          else byRole.set(r, [a]);
        }
      this.byRole.set(all, byRole);
    }
    return byRole.get(role) ?? [];
  }

  /**
   * The last compile's set with the members the changed nodes take away and
   * bring: an address leaves only if no node still here (nor a VIP) holds it.
   * The same object when nothing moved.
   */
  private updated(before: AddressSet, plane: Plane, roles: readonly Role[] | undefined, family: Family): AddressSet {
    const change = this.change!;
    const addressesOf = (nodes: readonly InventoryNode[]) =>
      nodes.filter((n) => holdsRole(n, roles)).flatMap((n) => n.addresses[plane].filter((a) => familyOf(a) === family));
    const coming = new Set(addressesOf(change.came));
    const kept = new Set(addressesOf(change.sharing));
    if (!roles) for (const vip of this.config.virtualIPs[VIP_KEY[plane]]) if (familyOf(vip) === family) kept.add(vip);
    const leaving = addressesOf(change.gone).filter((a) => !coming.has(a) && !kept.has(a));
    if (coming.size === 0 && leaving.length === 0) return before;
    // Copied on the first real move only: a node whose roles changed but that stays in this set moves nothing.
    let members = before.members;
    let copied = false;
    for (const a of leaving) {
      const at = searchAddress(members, a);
      if (at < 0) continue;
      if (!copied) members = [...members];
      copied = true;
      members.splice(at, 1);
    }
    for (const a of coming) {
      const at = searchAddress(members, a);
      if (at >= 0) continue;
      if (!copied) members = [...members];
      copied = true;
      members.splice(-at - 1, 0, a);
    }
    return copied ? { ...before, members } : before;
  }

  /**
   * The set for a CIDR list in one family: `any` when it holds a /0 (ipset
   * cannot store one), `none` when no CIDR of the list is of that family.
   */
  net(cidrs: readonly string[], family: Family): string | 'any' | 'none' {
    const mine = cidrs.filter((c) => familyOf(c) === family);
    if (mine.length === 0) return 'none';
    if (mine.some((c) => c.endsWith('/0'))) return 'any';
    const name = netSetName(mine, family);
    if (!this.sets.has(name)) {
      this.add({ name, family, type: 'hash:net', members: sortAddresses(mine), describes: mine.join(', ') });
    }
    return name;
  }

  private add(set: AddressSet): void {
    if (set.name.length + SWAP_SUFFIX.length > MAX_SET_NAME) throw new Error(`set name too long: ${set.name}`);
    this.sets.set(set.name, set);
  }

  all(): AddressSet[] {
    return [...this.sets.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Keeps this compile's plane sets in the memo, for the next compile to update. */
  remember(): void {
    if (this.memo) this.memo.last = { nodes: this.inventory.nodes, vips: this.vips, sets: this.planeSets };
  }
}

function holdsRole(node: InventoryNode, roles: readonly Role[] | undefined): boolean {
  return !roles || node.roles.some((r) => roles.includes(r));
}

/** Where an address sorts: IPv4 by number (first), IPv6 by normalized text; a prefix after its address. */
type SortKey = number | string;

/** A node's address, where it sorts, and the node. */
interface HeldAddress {
  text: string;
  key: SortKey;
  node: InventoryNode;
}

function sortKey(text: string): SortKey {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const prefix = slash < 0 ? 0 : Number(text.slice(slash + 1)) + 1;
  if (addr.includes(':')) return `${ipaddr.IPv6.parse(addr).toNormalizedString()}/${String(prefix).padStart(3, '0')}`;
  return sortKeyV4(addr) * 64 + prefix;
}

function compareKeys(a: SortKey, b: SortKey): number {
  if (typeof a === 'number') return typeof b === 'number' ? a - b : -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sorts addresses numerically within each family (IPv4 first), so that output is stable and readable. */
export function sortAddresses(list: readonly string[]): string[] {
  // Keys are computed once per address, not once per comparison, and IPv4 keys
  // are plain numbers: inventories run to thousands of nodes.
  const v4: { key: number; text: string }[] = [];
  const v6: { key: string; text: string }[] = [];
  for (const text of list) {
    const key = sortKey(text);
    if (typeof key === 'number') v4.push({ key, text });
    else v6.push({ key, text });
  }
  v4.sort((a, b) => a.key - b.key);
  v6.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return [...v4.map((x) => x.text), ...v6.map((x) => x.text)];
}

/** The index of `address` in a list sorted as sortAddresses sorts, or -(where it would go) - 1. */
export function searchAddress(sorted: readonly string[], address: string): number {
  const key = sortKey(address);
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareKeys(sortKey(sorted[mid]!), key);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return -lo - 1;
}

/**
 * The value of an IPv4 address for sorting. Not addresses.ts' ipv4Number on
 * purpose: members here are canonical already, and skipping its validating
 * regex keeps compile + render at 5,000 nodes near 12 ms instead of 15-18 ms.
 */
function sortKeyV4(addr: string): number {
  let n = 0;
  let octet = 0;
  for (let i = 0; i < addr.length; i++) {
    const c = addr.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + octet;
      octet = 0;
    } else octet = octet * 10 + (c - 48);
  }
  return n * 256 + octet;
}
