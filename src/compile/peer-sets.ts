// Peer sets: the addresses a rule's `from` / `to` stands for, as ipsets. Rules
// reference sets by a name that depends on what the set means (plane + roles),
// never on its members, so an inventory change only changes set contents and
// the rule count does not grow with the number of nodes.
import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { familyOf } from '../config/addresses.js';
import type { Config, Family, Inventory, InventoryNode, Plane, Role } from '../config/model.js';
import { VIP_KEY } from '../config/model.js';
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
    const members = new Set<string>();
    const nodes = this.inventory.nodes;
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      if (!holdsRole(node, roles)) continue;
      const addresses = node.addresses[plane];
      for (let j = 0; j < addresses.length; j++) if (familyOf(addresses[j]!) === family) members.add(addresses[j]!);
    }
    if (!roles) for (const vip of this.config.virtualIPs[VIP_KEY[plane]]) if (familyOf(vip) === family) members.add(vip);
    return {
      name,
      family,
      type: 'hash:ip',
      members: sortAddresses([...members]),
      describes: roles ? `${plane} [${roles.join(', ')}]` : `${plane} (all nodes and VIPs)`,
    };
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

/** Runs for every node and set in a compile, cold: a loop, no callback (one per call would be garbage). */
function holdsRole(node: InventoryNode, roles: readonly Role[] | undefined): boolean {
  if (!roles) return true;
  for (let i = 0; i < node.roles.length; i++) if (roles.includes(node.roles[i]!)) return true;
  return false;
}

/** Where an address sorts: IPv4 by number (first), IPv6 by normalized text; a prefix after its address. */
type SortKey = number | string;

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
 * The value of an IPv4 address for sorting. Not addresses.ts' ipv4Value on
 * purpose: members here are checked already, so this reads digits and dots
 * without judging them (and any spelling of an address sorts by its value).
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
