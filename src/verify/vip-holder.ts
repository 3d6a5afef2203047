// Which member holds a VIP right now ("where it lives"): keepalived moves a
// VIP between nodes, so the inventory cannot say. After the probes, the
// kernel's neighbour table knows the link-layer address that answered for
// the VIP and for each peer's plane address: the VIP lives on the peer whose
// address answered from the same link-layer address. A VIP reached through
// a router (every address behind one link-layer address) has no holder here.
import { execFile } from 'node:child_process';
import type { Inventory, Plane } from '../config/model.js';

export interface Holder {
  node?: string;
  /** How the holder was found, or why not. */
  how: string;
}

interface NeighbourEntry {
  dst?: string;
  lladdr?: string;
  state?: string[];
}

/** address -> link-layer address, from `ip -j neigh show` (both families); empty when ip cannot say. */
export function neighbourTable(): Promise<{ table: Map<string, string>; error?: string }> {
  return new Promise((resolve) => {
    execFile('ip', ['-j', 'neigh', 'show'], { shell: false, timeout: 5000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => {
      if (err) {
        resolve({ table: new Map(), error: `ip -j neigh show: ${err.message.split('\n')[0]}` });
        return;
      }
      try {
        resolve({ table: parseNeighbours(stdout) });
      } catch (e) {
        resolve({ table: new Map(), error: `ip -j neigh show: ${(e as Error).message}` });
      }
    });
  });
}

/** The entries with a link-layer address (not FAILED or INCOMPLETE). Pure. */
export function parseNeighbours(json: string): Map<string, string> {
  const table = new Map<string, string>();
  for (const e of JSON.parse(json) as NeighbourEntry[]) {
    if (!e.dst || !e.lladdr || e.state?.some((s) => s === 'FAILED' || s === 'INCOMPLETE')) continue;
    table.set(e.dst, e.lladdr.toLowerCase());
  }
  return table;
}

/** The member holding `vip` on `plane`, judged from the neighbour table. Pure. */
export function holderOf(
  vip: string,
  plane: Plane,
  inventory: Inventory,
  self: string | undefined,
  table: Map<string, string>,
): Holder {
  const mac = table.get(vip);
  if (!mac) return { how: 'no neighbour entry: nothing answered for it on this link' };
  const owners = inventory.nodes.filter((n) => n.name !== self && n.addresses[plane].some((a) => table.get(a) === mac));
  if (owners.length === 1) return { node: owners[0]!.name, how: `answers from ${mac}, as ${owners[0]!.name} does` };
  if (owners.length > 1) return { how: `${mac} answers for ${owners.length} members (a router): holder unknown` };
  return { how: `answers from ${mac}, which no member's plane address answers from` };
}
