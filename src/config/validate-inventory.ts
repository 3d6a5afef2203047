// inventory.yaml text -> Inventory, and the checks that need config and
// inventory together (the local node, plane CIDRs). Pure.
import { AfwError, type Problem } from '../errors.js';
import { addressFacts, cidrListMatcher, familyOf, ipv4Value } from './addresses.js';
import type { Config, Inventory, InventoryNode, Plane } from './model.js';
import { PLANES } from './model.js';
import { inventorySchema, isPlainInventoryNode, type RawInventory } from './schema.js';
import { planeCidrs } from './validate-config.js';
import type { Report } from './validate-policy.js';
import type { ChunkedYamlReader } from './yaml-chunks.js';
import { parseYaml, problemAt, type YamlSource } from './yaml-source.js';
import { zodProblems } from './zod-problems.js';

export interface LoadedInventory {
  inventory: Inventory;
  source: YamlSource;
}

const IP_KEY: Record<Plane, 'controlPlaneIP' | 'workloadPlaneIP'> = {
  controlPlane: 'controlPlaneIP',
  workloadPlane: 'workloadPlaneIP',
};

type RawNode = RawInventory['nodes'][number];
const nodeSchema = inventorySchema.shape.nodes.element;

/** What one node says on its own (no other node needed). */
interface NodeFacts {
  roles: InventoryNode['roles'];
  addresses: Record<Plane, string[]>;
}

/**
 * The shape check (zod). Items that are plainly right (isPlainInventoryNode)
 * are not given to zod one by one, and the rest of the document is checked
 * with one item. With a reader, items whose text did not change since the
 * last read were checked then: only new items are looked at. Any failure runs
 * the full check, so error messages and their paths are the same either way.
 */
function checkShape(src: YamlSource, file: string, reader?: ChunkedYamlReader): RawNode[] {
  const data = src.data as { nodes?: unknown };
  const items = data.nodes;
  if (Array.isArray(items) && items.length > 0) {
    const fresh = reader ? items.filter((it) => !reader.checked.has(it as object)) : items;
    const ok =
      fresh.every(
        (it) => isPlainInventoryNode(it) || (it !== null && typeof it === 'object' && nodeSchema.safeParse(it).success),
      ) && inventorySchema.safeParse({ ...data, nodes: [items[0]] }).success;
    if (ok) {
      if (reader) for (const it of fresh) reader.checked.add(it as object);
      // zod's node schema changes nothing it accepts: the items are what it would give.
      return items as RawNode[];
    }
  }
  const parsed = inventorySchema.safeParse(src.data);
  if (!parsed.success) throw invalid(file, zodProblems(src, parsed.error));
  return parsed.data.nodes;
}

/** Where a plane's address `j` of node `i` is in the file (a single address is the field itself). */
function addressPath(raw: Partial<RawNode> | undefined, i: number, plane: Plane, j: number): (string | number)[] {
  return typeof raw?.[IP_KEY[plane]] === 'string' ? ['nodes', i, IP_KEY[plane]] : ['nodes', i, IP_KEY[plane], j];
}

/** One plane's addresses of a node, canonical; reports what is wrong and returns undefined. */
function planeAddresses(raw: RawNode, i: number, plane: Plane, report: Report): string[] | undefined {
  const value = raw[IP_KEY[plane]];
  // The common case, one canonical IPv4 address, costs no more than reading it.
  if (typeof value === 'string' && ipv4Value(value) >= 0) return [value];
  const list = typeof value === 'string' ? [value] : value;
  const out: string[] = [];
  let v4 = false;
  let v6 = false;
  let clean = true;
  for (let j = 0; j < list.length; j++) {
    const text = list[j]!;
    const addr = addressFacts(text);
    if (!addr) {
      report(addressPath(raw, i, plane, j), `"${text}" is not an IP address`);
      clean = false;
    } else if (addr.family === 4 ? v4 : v6) {
      report(addressPath(raw, i, plane, j), `a second IPv${addr.family} address: give at most one address per family`);
      clean = false;
    } else {
      if (addr.family === 4) v4 = true;
      else v6 = true;
      out.push(addr.text);
    }
  }
  return clean ? out : undefined;
}

/** One node's own checks; reports what is wrong with it and returns undefined, or its facts. */
function nodeFacts(raw: RawNode, i: number, report: Report): NodeFacts | undefined {
  let clean = true;
  const roles = raw.roles.length < 2 ? raw.roles.slice() : [...raw.roles].sort();
  for (let k = 1; k < roles.length; k++) {
    if (roles[k] !== roles[k - 1]) continue;
    report(['nodes', i, 'roles'], 'a role is listed twice');
    clean = false;
    break;
  }
  const controlPlane = planeAddresses(raw, i, 'controlPlane', report);
  const workloadPlane = planeAddresses(raw, i, 'workloadPlane', report);
  return clean && controlPlane && workloadPlane ? { roles, addresses: { controlPlane, workloadPlane } } : undefined;
}

/**
 * `reader`: keeps parsed nodes between reads, so that an edit of a large
 * inventory re-parses and shape-checks only the nodes it changed (the daemon).
 */
export function parseInventory(text: string, file: string, reader?: ChunkedYamlReader): LoadedInventory {
  const src = parseYaml(text, file, 'AFW_INVENTORY_INVALID', reader);
  const rawNodes = checkShape(src, file, reader);
  const problems: Problem[] = [];
  const report: Report = (p, m) => problems.push(problemAt(src, p, m));

  const nodes: InventoryNode[] = [];
  const names = new Map<string, number>();
  const seen: Record<Plane, Map<string, number>> = { controlPlane: new Map(), workloadPlane: new Map() };
  // Indexed loops, no callbacks or iterators: this runs once per node, cold, in every command, and
  // what an unoptimized for-of or callback allocates per node is garbage to collect.
  for (let i = 0; i < rawNodes.length; i++) {
    const raw = rawNodes[i]!;
    const prev = names.get(raw.name);
    if (prev !== undefined) report(['nodes', i, 'name'], `node name "${raw.name}" is used twice (also nodes[${prev}])`);
    names.set(raw.name, i);
    // An item read before (the reader gives the same frozen object) was checked clean then: the node
    // made of it is kept, the very object, so a compile sees which nodes an edit changed (peer-sets.ts).
    let node = reader?.derived.get(raw) as InventoryNode | undefined;
    if (!node) {
      const facts = nodeFacts(raw, i, report);
      if (!facts) continue;
      node = Object.freeze({ name: raw.name, roles: facts.roles, addresses: facts.addresses });
      reader?.derived.set(raw, node);
    }
    // Across nodes: an address belongs to one node. (A node kept has all its
    // addresses, in order: j is also the index in what the file says.)
    for (let p = 0; p < PLANES.length; p++) {
      const plane = PLANES[p]!;
      const list = node.addresses[plane];
      for (let j = 0; j < list.length; j++) {
        const text = list[j]!;
        const other = seen[plane].get(text);
        if (other === undefined) seen[plane].set(text, i);
        else report(addressPath(raw, i, plane, j), `${text} is already the ${plane} address of nodes[${other}]`);
      }
    }
    nodes.push(node);
  }
  if (problems.length > 0) throw invalid(file, problems);
  return { inventory: { file, nodes }, source: src };
}

function invalid(file: string, problems: Problem[]): AfwError {
  return new AfwError('AFW_INVENTORY_INVALID', `${file}: ${problems.length} problem(s) in the inventory`, { problems });
}

/**
 * The nodes whose addresses were found inside the plane CIDRs (by the
 * addresses' object, which the incremental reader and the membership's
 * mapping keep while a node does not change), for the CIDRs of `key`.
 * Owned by the caller (the daemon), passed to each check.
 */
export interface ClusterCheckMemo {
  key: string;
  inside: WeakSet<object>;
}

/**
 * Config and inventory together: the local node is listed with the same roles,
 * every plane address lies inside the plane CIDR (when the plane is given by CIDR).
 */
export function checkCluster(cfg: { config: Config; source: YamlSource }, inv: LoadedInventory, memo?: ClusterCheckMemo): void {
  const { config } = cfg;
  const problems: Problem[] = [];
  const invReport: Report = (p, m) => problems.push(problemAt(inv.source, p, m));

  const cidrsOf = {
    controlPlane: planeCidrs(config.networks.controlPlane),
    workloadPlane: planeCidrs(config.networks.workloadPlane),
  };
  // Runs over every address on every reload: the CIDRs are split by family and
  // made into matchers once, and the path of a problem is only built when there is one.
  const byFamily = (plane: Plane) =>
    [4, 6].map((family) => {
      const cidrs = cidrsOf[plane].filter((c) => c.family === family);
      return { cidrs, matches: cidrListMatcher(cidrs) };
    });
  const cidrsFor = { controlPlane: byFamily('controlPlane'), workloadPlane: byFamily('workloadPlane') };
  const key = JSON.stringify([cidrsOf.controlPlane.map((c) => c.text), cidrsOf.workloadPlane.map((c) => c.text)]);
  if (memo && memo.key !== key) {
    memo.key = key;
    memo.inside = new WeakSet();
  }
  const nodes = inv.inventory.nodes;
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i]!;
    if (memo?.inside.has(node.addresses)) continue;
    const before = problems.length;
    for (let p = 0; p < PLANES.length; p++) {
      const plane = PLANES[p]!;
      if (cidrsOf[plane].length === 0) continue;
      const list = node.addresses[plane];
      for (let j = 0; j < list.length; j++) {
        const text = list[j]!;
        const family = familyOf(text);
        const sameFamily = cidrsFor[plane][family === 4 ? 0 : 1]!;
        if (sameFamily.matches(text)) continue;
        const at = addressPath((inv.source.data as { nodes: Partial<RawNode>[] }).nodes[i], i, plane, j);
        if (sameFamily.cidrs.length === 0) {
          invReport(at, `${text} is IPv${family} but ${config.file} gives no IPv${family} ${plane} CIDR`);
        } else {
          const texts = sameFamily.cidrs.map((c) => c.text).join(', ');
          invReport(at, `${text} is outside the ${plane} CIDR ${texts} of ${config.file}`);
        }
      }
    }
    if (memo && problems.length === before) memo.inside.add(node.addresses);
  }

  const idx = inv.inventory.nodes.findIndex((n) => n.name === config.node.name);
  if (idx < 0) {
    problems.push(
      problemAt(
        cfg.source,
        ['node', 'name'],
        `this node "${config.node.name}" is not in the inventory ${inv.inventory.file} (known: ${inv.inventory.nodes.map((n) => n.name).join(', ')})`,
      ),
    );
  } else {
    const local = inv.inventory.nodes[idx]!;
    const metricsHost = config.metrics.listen?.host;
    if (metricsHost && !local.addresses.controlPlane.includes(metricsHost)) {
      problems.push(
        problemAt(
          cfg.source,
          ['metrics', 'listen'],
          `${metricsHost} is not an address of this node "${local.name}" on the control plane (${local.addresses.controlPlane.join(', ') || 'none in the inventory'}); ":PORT" serves on the node's own`,
        ),
      );
    }
    if (config.kubernetes && !config.node.rolesFromInventory && local.roles.join(',') !== config.node.roles.join(',')) {
      // The labels are the truth in the cluster: point at the config, the one thing the operator edits.
      problems.push(
        problemAt(
          cfg.source,
          ['node', 'roles'],
          `[${config.node.roles.join(', ')}] differ from the roles [${local.roles.join(', ')}] of Node "${local.name}" (its ${config.kubernetes.roleLabelPrefix}<role> labels): fix node.roles or leave it out to follow the labels`,
        ),
      );
    } else if (!config.node.rolesFromInventory && local.roles.join(',') !== config.node.roles.join(',')) {
      invReport(
        ['nodes', idx, 'roles'],
        `roles [${local.roles.join(', ')}] of "${local.name}" differ from node.roles [${config.node.roles.join(', ')}] in ${config.file}`,
      );
    }
  }
  if (problems.length > 0) {
    throw new AfwError('AFW_CLUSTER_MISMATCH', `config and inventory disagree (${problems.length} problem(s))`, { problems });
  }
}

/**
 * What the membership fills in for this node: its roles when node.roles is
 * left out of config.yaml (inventory.kubernetes: its labels), and the address
 * of `metrics.listen: ":PORT"` (its first control-plane address).
 */
export function withLocalRoles(config: Config, inventory: Inventory): Config {
  const local = inventory.nodes.find((n) => n.name === config.node.name);
  if (!local) return config;
  let out = config;
  if (config.node.rolesFromInventory) out = { ...out, node: { ...out.node, roles: [...local.roles] } };
  const metrics = config.metrics.listen;
  if (metrics && metrics.host === null && local.addresses.controlPlane[0])
    out = { ...out, metrics: { listen: { ...metrics, host: local.addresses.controlPlane[0] } } };
  return out;
}
