// What must be written to turn what is live into what is desired, as restore
// batches. Pure (it only compares values), so that it is unit-tested without
// root. Unchanged chains are not rewritten (their counters keep counting), and a
// no-op yields no batch at all.
import type { DesiredFamily } from '../compile/desired.js';
import { SWAP_SUFFIX } from '../compile/peer-sets.js';
import { createLine } from '../compile/render-ipset.js';
import { TABLES } from '../compile/render-iptables.js';
import type { AddressSet, Table } from '../compile/ruleset.js';
import type { LiveFamily, LiveHook, LiveSet } from './live.js';
import { normalizeMember } from './live.js';

const BUILTINS = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export interface TableChange {
  table: Table;
  rewritten: string[];
  removed: string[];
  hooksDeleted: number;
  hooksInserted: number;
  lines: string[];
}

function tableChange(desired: DesiredFamily, live: LiveFamily, table: Table): TableChange | null {
  const want = desired.chains.filter((c) => c.table === table);
  const wantNames = new Set(want.map((c) => c.name));
  const liveChains = [...live.chains.values()].filter((c) => c.table === table);
  const changed = want.filter((c) => {
    const l = live.chains.get(c.name);
    return !l || l.table !== table || !sameIds(l.ids, c.ids);
  });
  const stale = liveChains.filter((c) => !wantNames.has(c.name)).map((c) => c.name);
  const staleSet = new Set(stale);

  const liveHooks = live.hooks.filter((h) => h.table === table);
  const keep = new Set<LiveHook>();
  const inserts = desired.hooks
    .filter((h) => h.table === table)
    .filter((h) => {
      const first = liveHooks.find((l) => l.builtin === h.builtin && l.index === 1 && l.chain === h.chain);
      if (first) keep.add(first);
      return !first;
    });
  // Jumps from built-in chains that are not the one kept (duplicates, misplaced,
  // or to chains we no longer have), and any jump into a chain about to be removed.
  const deletes = liveHooks
    .filter((l) => !keep.has(l) && (BUILTINS.has(l.builtin) || staleSet.has(l.chain)))
    .sort((a, b) => (a.builtin === b.builtin ? b.index - a.index : a.builtin < b.builtin ? -1 : 1));

  if (changed.length === 0 && stale.length === 0 && deletes.length === 0 && inserts.length === 0) return null;
  const lines = [`*${table}`];
  for (const c of changed) lines.push(`:${c.name} - [0:0]`);
  for (const name of stale) lines.push(`:${name} - [0:0]`);
  for (const c of changed) for (const spec of c.specs) lines.push(`-A ${c.name} ${spec}`);
  for (const d of deletes) lines.push(`-D ${d.builtin} ${d.index}`);
  for (const h of inserts) lines.push(`-I ${h.builtin} 1 ${h.spec}`);
  for (const name of stale) lines.push(`-X ${name}`);
  lines.push('COMMIT');
  return {
    table,
    rewritten: changed.map((c) => c.name),
    removed: stale,
    hooksDeleted: deletes.length,
    hooksInserted: inserts.length,
    lines,
  };
}

/** Whether one table of what is live differs from what is desired (`live` may hold that table only). */
export function tableDiffers(desired: DesiredFamily, live: LiveFamily, table: Table): boolean {
  return tableChange(desired, live, table) !== null;
}

export interface FamilyChange {
  family: 4 | 6;
  tables: TableChange[];
  /** The restore input (both tables), or '' when nothing changes. */
  batch: string;
}

export function familyChange(desired: DesiredFamily, live: LiveFamily): FamilyChange {
  const tables = TABLES.map((t) => tableChange(desired, live, t)).filter((t): t is TableChange => t !== null);
  return { family: desired.family, tables, batch: tables.length ? `${tables.flatMap((t) => t.lines).join('\n')}\n` : '' };
}

/** What is live, expressed as something to go back to (rollback). */
export function liveAsDesired(live: LiveFamily): DesiredFamily {
  const firstPerBuiltin = new Map<string, LiveHook>();
  for (const h of live.hooks) {
    if (!BUILTINS.has(h.builtin)) continue;
    const key = `${h.table}/${h.builtin}`;
    if (!firstPerBuiltin.has(key)) firstPerBuiltin.set(key, h);
  }
  return {
    family: live.family,
    chains: [...live.chains.values()].map((c) => ({ name: c.name, table: c.table, specs: [...c.specs], ids: [...c.ids] })),
    hooks: [...firstPerBuiltin.values()].map((h) => ({
      table: h.table,
      builtin: h.builtin as 'PREROUTING',
      chain: h.chain,
      spec: h.spec,
    })),
  };
}

export interface SetChange {
  /** Sets that do not exist yet: created and filled directly (nothing references them). */
  created: AddressSet[];
  /** Sets whose members differ: built under `<name>-swp`, then swapped in. */
  updated: AddressSet[];
  /**
   * Sets that differ by exactly one member (a node joined or left): that one
   * `add` or `del` is itself atomic, so it is done in place, without copying
   * the whole set.
   */
  edited: SetEdit[];
  /** Our sets that are no longer wanted: destroyed once no rule references them. */
  stale: string[];
  /** Temporary sets left by an interrupted apply: destroyed first. */
  leftovers: string[];
  /** Sets whose name is ours but whose type or family differ: they must be recreated. */
  conflicting: string[];
  /**
   * Addresses leaving one of our peer (hash:ip) sets, whether the set stays or
   * goes: their tracked connections are cut. May hold an address twice.
   */
  leaving: string[];
}

export interface SetEdit {
  set: string;
  op: 'add' | 'del';
  member: string;
}

/** The members to add and to delete to turn `live` into `want` (host prefixes /32, /128 compared away). */
export function memberDiff(want: AddressSet, live: LiveSet): { add: string[]; del: string[] } {
  const wanted = new Set(want.members.map(normalizeMember));
  const have = new Set(live.members);
  const add: string[] = [];
  const del: string[] = [];
  for (const m of wanted) if (!have.has(m)) add.push(m);
  for (const m of have) if (!wanted.has(m)) del.push(m);
  return { add, del };
}

export function setChange(want: AddressSet[], live: Map<string, LiveSet>): SetChange {
  const change: SetChange = { created: [], updated: [], edited: [], stale: [], leftovers: [], conflicting: [], leaving: [] };
  const names = new Set(want.map((s) => s.name));
  for (const s of want) {
    const l = live.get(s.name);
    if (!l) change.created.push(s);
    else if (l.type !== s.type || l.family !== s.family) change.conflicting.push(s.name);
    else {
      const d = memberDiff(s, l);
      if (s.type === 'hash:ip') change.leaving.push(...d.del);
      if (d.add.length + d.del.length === 1) {
        change.edited.push(
          d.add.length ? { set: s.name, op: 'add', member: d.add[0]! } : { set: s.name, op: 'del', member: d.del[0]! },
        );
      } else if (d.add.length + d.del.length > 1) change.updated.push(s);
    }
  }
  for (const [name, l] of live) {
    if (name.endsWith(SWAP_SUFFIX)) change.leftovers.push(name);
    else if (!names.has(name)) {
      change.stale.push(name);
      if (l.type === 'hash:ip') change.leaving.push(...l.members);
    }
  }
  return change;
}

export function setsUnchanged(c: SetChange): boolean {
  return c.created.length + c.updated.length + c.edited.length + c.stale.length + c.leftovers.length + c.conflicting.length === 0;
}

/** Batch 1: everything that touches no live rule (leftover cleanup, new sets, new contents under temporary names). */
export function prepareSetsBatch(c: SetChange): string {
  const lines: string[] = [];
  for (const name of c.leftovers) lines.push(`destroy ${name}`);
  for (const s of c.created) lines.push(createLine(s), ...s.members.map((m) => `add ${s.name} ${m}`));
  for (const s of c.updated) {
    const tmp = s.name + SWAP_SUFFIX;
    lines.push(createLine(s, tmp), ...s.members.map((m) => `add ${tmp} ${m}`));
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

export function editsBatch(edits: SetEdit[]): string {
  return edits.length ? `${edits.map((e) => `${e.op} ${e.set} ${e.member}`).join('\n')}\n` : '';
}

export function invertEdits(edits: SetEdit[]): SetEdit[] {
  return edits.map((e) => ({ ...e, op: e.op === 'add' ? 'del' : 'add' }));
}

/** Batch 2: the atomic swaps. After it, each `<name>-swp` holds the old members (for rollback). */
export function swapSetsBatch(names: string[]): string {
  return names.length ? `${names.map((n) => `swap ${n}${SWAP_SUFFIX} ${n}`).join('\n')}\n` : '';
}
