// Removes exactly what artesca-fw owns: the jumps into AFW- chains, the AFW-
// chains, and the afw sets, in both families. Nothing else is written.
import type { Tools } from './backend.js';
import { familyChange } from './changes.js';
import { readLive } from './live.js';
import { ipsetRestore, iptablesRestore } from './restore.js';

export interface FlushReport {
  chainsRemoved: string[];
  jumpsRemoved: number;
  setsRemoved: string[];
}

export async function flushAll(tools: Tools): Promise<FlushReport> {
  const live = await readLive(tools);
  const report: FlushReport = { chainsRemoved: [], jumpsRemoved: 0, setsRemoved: [] };
  for (const fam of live.families) {
    const change = familyChange({ family: fam.family, chains: [], jumps: [] }, fam);
    if (!change.batch) continue;
    await iptablesRestore(tools, fam.family, change.batch);
    report.chainsRemoved.push(...change.tables.flatMap((t) => t.removed));
    report.jumpsRemoved += change.tables.reduce((s, t) => s + t.jumpsDeleted, 0);
  }
  const names = [...live.sets.keys()];
  if (names.length) {
    await ipsetRestore(tools.runner, `${names.map((n) => `destroy ${n}`).join('\n')}\n`, 'ipset destroy');
    report.setsRemoved = names;
  }
  return report;
}
