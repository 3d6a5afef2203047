// `artesca-fw diff`: what is live against what is desired, rule by rule and
// member by member. Pure (compares values read elsewhere).
import type { DesiredFamily } from '../compile/desired.js';
import type { AddressSet } from '../compile/ruleset.js';
import { memberDiff } from './changes.js';
import type { LiveFamily, LiveSet } from './live.js';

export interface DiffLine {
  kind:
    | 'missing rule'
    | 'extra rule'
    | 'order'
    | 'missing chain'
    | 'extra chain'
    | 'jump'
    | 'missing set'
    | 'extra set'
    | 'missing member'
    | 'extra member';
  where: string;
  text: string;
}

export function diffFamily(d: DesiredFamily, live: LiveFamily): DiffLine[] {
  const out: DiffLine[] = [];
  const fam = `IPv${d.family}`;
  for (const c of d.chains) {
    const l = live.chains.get(c.name);
    const where = `${fam} ${c.table} ${c.name}`;
    if (!l) {
      out.push({ kind: 'missing chain', where, text: `${c.specs.length} rules` });
      continue;
    }
    const liveIds = new Set(l.ids);
    const wantIds = new Set(c.ids);
    c.ids.forEach((id, i) => {
      if (!liveIds.has(id)) out.push({ kind: 'missing rule', where, text: `-A ${c.name} ${c.specs[i]}` });
    });
    l.ids.forEach((id, i) => {
      if (!wantIds.has(id)) out.push({ kind: 'extra rule', where, text: `-A ${c.name} ${l.specs[i]}` });
    });
    const common = c.ids.filter((id) => liveIds.has(id));
    const liveCommon = l.ids.filter((id) => wantIds.has(id));
    if (common.join() !== liveCommon.join()) out.push({ kind: 'order', where, text: 'the rules are in another order' });
  }
  const wanted = new Set(d.chains.map((c) => c.name));
  for (const l of live.chains.values()) {
    if (!wanted.has(l.name))
      out.push({ kind: 'extra chain', where: `${fam} ${l.table} ${l.name}`, text: `${l.specs.length} rules` });
  }
  for (const h of d.jumps) {
    const found = live.jumps.filter((l) => l.table === h.table && l.builtin === h.builtin && l.chain === h.chain);
    const where = `${fam} ${h.table} ${h.builtin}`;
    if (found.length === 0) out.push({ kind: 'jump', where, text: `no jump to ${h.chain}` });
    else if (found.length > 1) out.push({ kind: 'jump', where, text: `${found.length} jumps to ${h.chain} (want one)` });
    else if (found[0]!.index !== 1)
      out.push({ kind: 'jump', where, text: `the jump to ${h.chain} is rule ${found[0]!.index}, not 1` });
  }
  for (const l of live.jumps) {
    if (!d.jumps.some((h) => h.table === l.table && h.builtin === l.builtin && h.chain === l.chain)) {
      out.push({ kind: 'jump', where: `${fam} ${l.table} ${l.builtin}`, text: `unwanted jump to ${l.chain}` });
    }
  }
  return out;
}

export function diffSets(want: AddressSet[], live: Map<string, LiveSet>): DiffLine[] {
  const out: DiffLine[] = [];
  for (const s of want) {
    const l = live.get(s.name);
    if (!l) {
      out.push({ kind: 'missing set', where: s.name, text: `${s.members.length} members (${s.describes})` });
      continue;
    }
    const { add, del } = memberDiff(s, l);
    for (const m of add) out.push({ kind: 'missing member', where: s.name, text: m });
    for (const m of del) out.push({ kind: 'extra member', where: s.name, text: m });
  }
  const names = new Set(want.map((s) => s.name));
  for (const l of live.values())
    if (!names.has(l.name)) out.push({ kind: 'extra set', where: l.name, text: `${l.members.length} members` });
  return out;
}
