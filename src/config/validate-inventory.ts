// inventory.yaml text -> Inventory, and the checks that need config and
// inventory together (the local node, plane CIDRs). Pure.
import { AfwError, type Problem } from '../errors.js';
import { cidrContains, parseAddress } from './addresses.js';
import type { Config, Inventory, InventoryNode, Plane } from './model.js';
import { PLANES } from './model.js';
import { inventorySchema } from './schema.js';
import { planeCidrs } from './validate-config.js';
import type { Report } from './validate-policy.js';
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

export function parseInventory(text: string, file: string): LoadedInventory {
  const src = parseYaml(text, file, 'AFW_INVENTORY_INVALID');
  const parsed = inventorySchema.safeParse(src.data);
  if (!parsed.success) throw invalid(file, zodProblems(src, parsed.error));
  const problems: Problem[] = [];
  const report: Report = (p, m) => problems.push(problemAt(src, p, m));

  const nodes: InventoryNode[] = [];
  const names = new Map<string, number>();
  const seen: Record<Plane, Map<string, number>> = { controlPlane: new Map(), workloadPlane: new Map() };
  parsed.data.nodes.forEach((raw, i) => {
    const prev = names.get(raw.name);
    if (prev !== undefined) report(['nodes', i, 'name'], `node name "${raw.name}" is used twice (also nodes[${prev}])`);
    names.set(raw.name, i);
    const roles = [...new Set(raw.roles)].sort();
    if (roles.length !== raw.roles.length) report(['nodes', i, 'roles'], 'a role is listed twice');
    const addresses = { controlPlane: [], workloadPlane: [] } as Record<Plane, string[]>;
    for (const plane of PLANES) {
      const value = raw[IP_KEY[plane]];
      const list = typeof value === 'string' ? [value] : value;
      list.forEach((text, j) => {
        const at = typeof value === 'string' ? ['nodes', i, IP_KEY[plane]] : ['nodes', i, IP_KEY[plane], j];
        const addr = parseAddress(text);
        if (!addr) {
          report(at, `"${text}" is not an IP address`);
          return;
        }
        if (addresses[plane].some((a) => parseAddress(a)?.family === addr.family)) {
          report(at, `a second IPv${addr.family} address: give at most one address per family`);
          return;
        }
        const other = seen[plane].get(addr.text);
        if (other !== undefined) {
          report(at, `${addr.text} is already the ${plane} address of nodes[${other}]`);
          return;
        }
        seen[plane].set(addr.text, i);
        addresses[plane].push(addr.text);
      });
    }
    nodes.push({ name: raw.name, roles, addresses });
  });
  if (problems.length > 0) throw invalid(file, problems);
  return { inventory: { file, nodes }, source: src };
}

function invalid(file: string, problems: Problem[]): AfwError {
  return new AfwError('AFW_INVENTORY_INVALID', `${file}: ${problems.length} problem(s) in the inventory`, { problems });
}

/**
 * Config and inventory together: the local node is listed with the same roles,
 * every plane address lies inside the plane CIDR (when the plane is given by CIDR).
 */
export function checkCluster(cfg: { config: Config; source: YamlSource }, inv: LoadedInventory): void {
  const { config } = cfg;
  const problems: Problem[] = [];
  const invReport: Report = (p, m) => problems.push(problemAt(inv.source, p, m));

  const cidrsOf = {
    controlPlane: planeCidrs(config.networks.controlPlane),
    workloadPlane: planeCidrs(config.networks.workloadPlane),
  };
  inv.inventory.nodes.forEach((node, i) => {
    for (const plane of PLANES) {
      const cidrs = cidrsOf[plane];
      if (cidrs.length === 0) continue;
      const raw = (inv.source.data as { nodes: Record<string, unknown>[] }).nodes[i]?.[IP_KEY[plane]];
      node.addresses[plane].forEach((text, j) => {
        const at = typeof raw === 'string' ? ['nodes', i, IP_KEY[plane]] : ['nodes', i, IP_KEY[plane], j];
        const addr = parseAddress(text)!;
        const sameFamily = cidrs.filter((c) => c.family === addr.family);
        if (sameFamily.length === 0) {
          invReport(at, `${text} is IPv${addr.family} but ${config.file} gives no IPv${addr.family} ${plane} CIDR`);
        } else if (!sameFamily.some((c) => cidrContains(c, addr))) {
          invReport(at, `${text} is outside the ${plane} CIDR ${sameFamily.map((c) => c.text).join(', ')} of ${config.file}`);
        }
      });
    }
  });

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
    if (local.roles.join(',') !== config.node.roles.join(',')) {
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
