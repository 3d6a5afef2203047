// A membership as inventory.yaml text (pure): the same format an operator
// writes, so the cache file can be read back by any command, diffed, or used
// as the bootstrap inventory. Strings are JSON-quoted (valid YAML scalars);
// nothing here depends on time or resourceVersion, so the same membership
// always gives the same bytes and the file is rewritten only when it changed.
import type { InventoryNode, Plane } from '../config/model.js';
import { API_VERSION } from '../config/schema.js';

const IP_KEY: Record<Plane, string> = { controlPlane: 'controlPlaneIP', workloadPlane: 'workloadPlaneIP' };

function scalarOrList(values: string[]): string {
  return values.length === 1 ? JSON.stringify(values[0]) : `[${values.map((v) => JSON.stringify(v)).join(', ')}]`;
}

export function inventoryText(nodes: InventoryNode[], server: string): string {
  return [...inventoryChunks(nodes, server)].join('');
}

/** Nodes per piece of inventoryChunks: a piece is made between two turns of the event loop. */
const NODES_PER_CHUNK = 500;

/** inventoryText in pieces, made as they are asked for: a writer can let other work run between them. */
export function* inventoryChunks(nodes: InventoryNode[], server: string): Generator<string> {
  yield [
    `# Written by artesca-fw from the Node objects of ${server}.`,
    '# The cache of the last membership seen: edits are replaced at the next change.',
    `apiVersion: ${API_VERSION}`,
    'nodes:',
    '',
  ].join('\n');
  for (let start = 0; start < nodes.length; start += NODES_PER_CHUNK) {
    let chunk = '';
    for (const n of nodes.slice(start, start + NODES_PER_CHUNK)) {
      chunk += `  - name: ${JSON.stringify(n.name)}\n    roles: [${n.roles.join(', ')}]\n`;
      for (const plane of ['controlPlane', 'workloadPlane'] as const) {
        chunk += `    ${IP_KEY[plane]}: ${scalarOrList(n.addresses[plane])}\n`;
      }
    }
    yield chunk;
  }
}

/** The plain data of that text (what parsing it gives), for error positions without parsing it. */
export function inventoryData(nodes: InventoryNode[]): { apiVersion: string; nodes: Record<string, unknown>[] } {
  return {
    apiVersion: API_VERSION,
    nodes: nodes.map((n) => ({
      name: n.name,
      roles: n.roles,
      controlPlaneIP: n.addresses.controlPlane.length === 1 ? n.addresses.controlPlane[0] : n.addresses.controlPlane,
      workloadPlaneIP: n.addresses.workloadPlane.length === 1 ? n.addresses.workloadPlane[0] : n.addresses.workloadPlane,
    })),
  };
}
