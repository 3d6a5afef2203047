// A change of membership as a delta: when two desired states differ only in
// the members of sets that both have (same chains and rules, same jumps, same
// sets by name, type and family), the members to add and to delete. Anything
// else (a rule, a set created or gone) is not a delta: null, and the whole
// ruleset is reconciled. Pure; linear in the members of the sets (string
// comparisons), and in the members that changed for the rest.
import type { Desired } from './desired.js';
import { differingWindow } from './differing-window.js';

export interface MemberEdit {
  set: string;
  op: 'add' | 'del';
  member: string;
}

export interface DesiredDelta {
  edits: MemberEdit[];
  /** Addresses deleted from host sets (hash:ip): their connections are to be cut. */
  leaving: string[];
}

function sameRules(prev: Desired, next: Desired): boolean {
  if (prev.families.length !== next.families.length) return false;
  return prev.families.every((p, i) => {
    const n = next.families[i]!;
    if (p.family !== n.family || p.chains.length !== n.chains.length || p.jumps.length !== n.jumps.length) return false;
    const chains = p.chains.every((c, j) => {
      const d = n.chains[j]!;
      return c.name === d.name && c.table === d.table && c.ids.length === d.ids.length && c.ids.every((id, k) => id === d.ids[k]);
    });
    return chains && p.jumps.every((h, j) => h.spec === n.jumps[j]!.spec && h.builtin === n.jumps[j]!.builtin);
  });
}

export function desiredDelta(prev: Desired, next: Desired): DesiredDelta | null {
  if (!sameRules(prev, next) || prev.sets.length !== next.sets.length) return null;
  const edits: MemberEdit[] = [];
  const leaving: string[] = [];
  for (const [i, p] of prev.sets.entries()) {
    const n = next.sets[i]!;
    if (p.name !== n.name || p.type !== n.type || p.family !== n.family) return null;
    if (p.members === n.members) continue; // a set the compile kept as it was
    // Members are sorted and unique: what both lists start and end with is in
    // both; only the window between differs (one member for a Node event), so
    // only it is compared as sets.
    const pm = p.members;
    const nm = n.members;
    const { start, aEnd: pEnd, bEnd: nEnd } = differingWindow(pm, nm);
    const was = pm.slice(start, pEnd);
    const is = nm.slice(start, nEnd);
    const had = new Set(was);
    const has = new Set(is);
    for (const m of is) if (!had.has(m)) edits.push({ set: n.name, op: 'add', member: m });
    for (const m of was)
      if (!has.has(m)) {
        edits.push({ set: n.name, op: 'del', member: m });
        if (n.type === 'hash:ip') leaving.push(m);
      }
  }
  return { edits, leaving: [...new Set(leaving)].sort() };
}
