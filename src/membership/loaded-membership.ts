// A membership as the rest of the agent sees an inventory (pure): the same
// LoadedInventory a parsed inventory.yaml gives, with the text it would have
// on disk, so validation errors can still point at a line of the cache file.
import type { Config, InventoryNode } from '../config/model.js';
import type { LoadedInventory } from '../config/validate-inventory.js';
import { positionalSource, type YamlSource } from '../config/yaml-source.js';
import { inventoryData, inventoryText } from './inventory-text.js';
import { type MappingMemo, type Membership, membershipFromNodes } from './node-mapping.js';
import type { NodeObject } from './node-object.js';

export interface MembershipView extends Membership {
  loaded: LoadedInventory;
  /** What inventory.file holds for this membership (made on first use: not on the way to the rules). */
  text(): string;
}

export function membershipView(nodes: Iterable<NodeObject>, config: Config, server: string, memo?: MappingMemo): MembershipView {
  if (!config.kubernetes) throw new Error('membershipView without inventory.kubernetes');
  return viewOf(membershipFromNodes(nodes, config.kubernetes, config.networks, memo), config, server);
}

/** A membership already mapped (membershipAfter's, for one Node event), seen as an inventory. */
export function viewOf(m: Membership, config: Config, server: string): MembershipView {
  const file = config.inventoryFile;
  let text: string | undefined;
  const once = () => {
    text ??= inventoryText(m.nodes, server);
    return text;
  };
  // The source kept with the membership in force makes its text again only if an error needs a line.
  const again = () => inventoryText(m.nodes, server);
  return {
    ...m,
    text: once,
    loaded: { inventory: { file, nodes: m.nodes }, source: lazyData(positionalSource(file, again, undefined), m.nodes) },
  };
}

/** The source's data made on first use: only an error's position needs it, and it is one object per Node. */
function lazyData(src: YamlSource, nodes: InventoryNode[]): YamlSource {
  let data: unknown;
  return {
    ...src,
    get data() {
      data ??= inventoryData(nodes);
      return data;
    },
    set data(v: unknown) {
      data = v;
    },
  };
}

/** Whether two memberships hold the same nodes, in order, with the same roles and addresses. */
export function sameMembers(a: readonly InventoryNode[], b: readonly InventoryNode[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (x.name !== y.name || x.roles.join(',') !== y.roles.join(',')) return false;
    for (const plane of ['controlPlane', 'workloadPlane'] as const) {
      if (x.addresses[plane].join(',') !== y.addresses[plane].join(',')) return false;
    }
  }
  return true;
}

/** Keeps of a Node only what the mapping reads: a real Node (images, conditions) is many times larger. */
export function trimNode(node: NodeObject, config: Config): NodeObject {
  const k = config.kubernetes!;
  const labels: Record<string, string> = {};
  for (const [key, v] of Object.entries(node.metadata.labels ?? {})) if (key.startsWith(k.roleLabelPrefix)) labels[key] = v;
  const annotations: Record<string, string> = {};
  for (const src of Object.values(k.ip)) {
    const v = src.kind === 'annotation' ? node.metadata.annotations?.[src.key] : undefined;
    if (src.kind === 'annotation' && v !== undefined) annotations[src.key] = v;
  }
  return {
    metadata: {
      name: node.metadata.name,
      ...(node.metadata.resourceVersion ? { resourceVersion: node.metadata.resourceVersion } : {}),
      labels,
      annotations,
    },
    status: { addresses: (node.status?.addresses ?? []).map((a) => ({ type: a.type, address: a.address })) },
  };
}

/** What of a trimmed Node matters to the mapping (resourceVersion aside): equal fingerprints, same entry. */
export function nodeFingerprint(node: NodeObject): string {
  return JSON.stringify([node.metadata.labels, node.metadata.annotations, node.status?.addresses]);
}
