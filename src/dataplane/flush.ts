// Removes exactly what artesca-fw owns: the jumps into AFW- chains, the AFW-
// chains, and the afw sets, in both families. Nothing else is written.
import { AfwError } from '../errors.js';
import type { Tools } from './backend.js';
import { familyChange } from './changes.js';
import { quoteTool, run } from './exec.js';
import { readLive } from './live.js';

export interface FlushReport {
  chainsRemoved: string[];
  hooksRemoved: number;
  setsRemoved: string[];
}

export async function flushAll(tools: Tools): Promise<FlushReport> {
  const live = await readLive(tools);
  const report: FlushReport = { chainsRemoved: [], hooksRemoved: 0, setsRemoved: [] };
  for (const fam of live.families) {
    const change = familyChange({ family: fam.family, chains: [], hooks: [] }, fam);
    if (!change.batch) continue;
    const cmd = tools.restore(fam.family);
    const res = await run(cmd, ['--noflush', '--wait'], { input: change.batch });
    if (res.code !== 0 || res.stderr.trim() !== '') {
      throw new AfwError('AFW_IPTABLES_FAILED', `${cmd} (flush) failed: ${quoteTool(res)}`, { step: `${cmd} flush` });
    }
    report.chainsRemoved.push(...change.tables.flatMap((t) => t.removed));
    report.hooksRemoved += change.tables.reduce((s, t) => s + t.hooksDeleted, 0);
  }
  const names = [...live.sets.keys()];
  if (names.length) {
    const res = await run('ipset', ['restore'], { input: `${names.map((n) => `destroy ${n}`).join('\n')}\n` });
    if (res.code !== 0)
      throw new AfwError('AFW_IPSET_FAILED', `ipset destroy failed: ${quoteTool(res)}`, { step: 'ipset destroy' });
    report.setsRemoved = names;
  }
  return report;
}
