// Reads what is live: artesca-fw's chains, the jumps into them, and its sets.
// Everything else in the tables is looked at only to count positions.
import { hashOfSavedLine } from '../compile/render-iptables.js';
import { CHAIN_PREFIX, SET_PREFIX, type Table } from '../compile/ruleset.js';
import type { Family } from '../config/model.js';
import { AfwError } from '../errors.js';
import type { Tools } from './backend.js';
import { quoteTool, type ToolRunner } from './exec.js';

export interface LiveChain {
  name: string;
  table: Table;
  specs: string[];
  /** The rule hash from the comment, or `raw:<text>` for a rule artesca-fw did not write. */
  ids: string[];
}

export interface LiveJump {
  table: Table;
  /** The chain holding the jump (a built-in one, normally). */
  builtin: string;
  /** The AFW chain it jumps to. */
  chain: string;
  /** 1-based position in `builtin`. */
  index: number;
  spec: string;
}

export interface LiveFamily {
  family: Family;
  chains: Map<string, LiveChain>;
  jumps: LiveJump[];
  /** Number of rules per table that are not artesca-fw's (for reports). */
  foreignRules: number;
  /** The first rule of each chain that is not ours, by "table chain" (who stands above our jump). */
  tops: Map<string, string>;
}

export interface LiveSet {
  name: string;
  family: Family;
  type: string;
  members: string[];
}

export interface LiveState {
  families: LiveFamily[];
  sets: Map<string, LiveSet>;
}

const OUR_TABLES = new Set<string>(['mangle', 'filter']);

export function parseSave(text: string, family: Family): LiveFamily {
  const live: LiveFamily = { family, chains: new Map(), jumps: [], foreignRules: 0, tops: new Map() };
  let table = '';
  const positions = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.includes('is incompatible, use')) {
      throw new AfwError(
        'AFW_BACKEND',
        `IPv${family} ${line.replace(/^#\s*/, '')}: another backend or nft ruleset owns this table`,
      );
    }
    if (line.startsWith('*')) {
      table = line.slice(1).trim();
      positions.clear();
      continue;
    }
    if (!OUR_TABLES.has(table)) continue;
    if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0]!;
      if (name.startsWith(CHAIN_PREFIX)) live.chains.set(name, { name, table: table as Table, specs: [], ids: [] });
      continue;
    }
    if (!line.startsWith('-A ')) continue;
    const sp = line.indexOf(' ', 3);
    const chain = line.slice(3, sp);
    const spec = line.slice(sp + 1);
    const ours = live.chains.get(chain);
    if (ours) {
      ours.specs.push(spec);
      ours.ids.push(hashOfSavedLine(spec) ?? `raw:${spec}`);
      continue;
    }
    const index = (positions.get(chain) ?? 0) + 1;
    positions.set(chain, index);
    if (index === 1) live.tops.set(`${table} ${chain}`, spec);
    const target = /(?:^| )-[jg] (AFW-\S+)/.exec(spec);
    if (target) live.jumps.push({ table: table as Table, builtin: chain, chain: target[1]!, index, spec });
    else live.foreignRules++;
  }
  return live;
}

function normalizeMember(m: string): string {
  return m.endsWith('/32') || m.endsWith('/128') ? m.slice(0, m.lastIndexOf('/')) : m;
}

/**
 * `ipset save` output -> our sets. Written to walk a 10,000-member save without
 * splitting it into arrays of words: it runs on every reconcile.
 */
export function parseIpsetSave(text: string): Map<string, LiveSet> {
  const sets = new Map<string, LiveSet>();
  let current: LiveSet | undefined;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (text.startsWith('add ', start)) {
      // add NAME MEMBER [options]
      const nameEnd = text.indexOf(' ', start + 4);
      if (nameEnd > 0 && nameEnd < end) {
        const name = text.slice(start + 4, nameEnd);
        if (current?.name !== name) current = sets.get(name);
        if (current) {
          const memberEnd = text.indexOf(' ', nameEnd + 1);
          current.members.push(
            normalizeMember(text.slice(nameEnd + 1, memberEnd > 0 && memberEnd < end ? memberEnd : end).trim()),
          );
        }
      }
    } else if (text.startsWith('create ', start)) {
      const parts = text.slice(start, end).trim().split(/\s+/);
      if (parts[1]?.startsWith(SET_PREFIX)) {
        const famIdx = parts.indexOf('family');
        const family: Family = parts[famIdx + 1] === 'inet6' ? 6 : 4;
        sets.set(parts[1], { name: parts[1], family, type: parts[2] ?? '', members: [] });
      }
    }
    start = end + 1;
  }
  return sets;
}

/** What is live in one family: every table, or only `table` (`iptables-save -t`, what the legacy drift poll reads). */
export async function readFamily(tools: Tools, family: Family, table?: Table): Promise<LiveFamily> {
  const cmd = tools.save(family);
  const args = table ? ['-t', table] : [];
  const res = await tools.runner.run(cmd, args);
  if (res.code !== 0) {
    throw new AfwError('AFW_IPTABLES_FAILED', `${[cmd, ...args].join(' ')} failed: ${quoteTool(res)}`, { step: cmd });
  }
  return parseSave(res.stdout, family);
}

export async function readSets(runner: ToolRunner): Promise<Map<string, LiveSet>> {
  const res = await runner.run('ipset', ['save']);
  if (res.code !== 0) throw new AfwError('AFW_IPSET_FAILED', `ipset save failed: ${quoteTool(res)}`, { step: 'ipset save' });
  return parseIpsetSave(res.stdout);
}

export async function readLive(tools: Tools): Promise<LiveState> {
  const [v4, v6, sets] = await Promise.all([readFamily(tools, 4), readFamily(tools, 6), readSets(tools.runner)]);
  return { families: [v4, v6], sets };
}

export { normalizeMember };
