// Reads the packet and byte counters of artesca-fw's rules, keyed by chain and
// rule hash (the comment), for per-policy metrics and audit counts.
import { hashOfSavedLine } from '../compile/render-iptables.js';
import { CHAIN_PREFIX } from '../compile/ruleset.js';
import type { Family } from '../config/model.js';
import { AfwError } from '../errors.js';
import type { Tools } from './backend.js';
import { quoteTool } from './exec.js';

export interface RuleCounter {
  family: Family;
  chain: string;
  hash: string;
  packets: number;
  bytes: number;
}

export function parseCounters(text: string, family: Family): RuleCounter[] {
  const out: RuleCounter[] = [];
  for (const line of text.split('\n')) {
    const m = /^\[(\d+):(\d+)\] -A (\S+) (.*)$/.exec(line);
    if (!m || !m[3]!.startsWith(CHAIN_PREFIX)) continue;
    const hash = hashOfSavedLine(m[4]!);
    if (hash) out.push({ family, chain: m[3]!, hash, packets: Number(m[1]), bytes: Number(m[2]) });
  }
  return out;
}

export async function readCounters(tools: Tools): Promise<RuleCounter[]> {
  const all: RuleCounter[] = [];
  for (const family of [4, 6] as Family[]) {
    for (const table of ['mangle', 'filter']) {
      const res = await tools.runner.run(tools.save(family), ['-c', '-t', table]);
      if (res.code !== 0) throw new AfwError('AFW_IPTABLES_FAILED', `${tools.save(family)} -c failed: ${quoteTool(res)}`);
      all.push(...parseCounters(res.stdout, family));
    }
  }
  return all;
}
