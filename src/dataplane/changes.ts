// What must be written to turn what is live into what is desired, as restore
// batches. Pure (it only compares values), so that it is unit-tested without
// root. Unchanged chains are not rewritten (their counters keep counting), and a
// no-op yields no batch at all.
import { type Desired, type DesiredFamily, setsMatchedBy } from '../compile/desired.js';
import { SWAP_SUFFIX } from '../compile/peer-sets.js';
import { createLine } from '../compile/render-ipset.js';
import { TABLES } from '../compile/render-iptables.js';
import type { AddressSet, Table } from '../compile/ruleset.js';
import type { LiveFamily, LiveJump, LiveSet, LiveState } from './live.js';
import { normalizeMember } from './live.js';

const BUILTINS = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);

/** Names a built-in chain of one family, as the yielded chains of ChangeOptions do. */
export function chainKey(family: 4 | 6, table: string, chain: string): string {
  return `IPv${family} ${table} ${chain}`;
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export interface TableChange {
  table: Table;
  rewritten: string[];
  removed: string[];
  jumpsDeleted: number;
  jumpsInserted: number;
  lines: string[];
}

/**
 * The jump rules to delete and insert in one table so that each built-in chain
 * we use holds exactly one jump into ours, first. A built-in chain that is
 * already so is left alone; otherwise every jump of ours in it is deleted (by
 * its text) and the wanted one inserted at the top, in the same transaction,
 * so no packet passes between the two. Jumps into chains about to be removed
 * go too, wherever they are.
 */
/** The comment of a rule spec, as we write it and as iptables-save prints it. */
function commentOf(spec: string): string | undefined {
  const m = /--comment (?:"((?:[^"\\]|\\.)*)"|(\S+))/.exec(spec);
  return m ? (m[1] ?? m[2]) : undefined;
}

/**
 * What makes two jumps the same: their comment and the sets they match (a
 * jump of an older version, without the watch set, is replaced).
 */
function jumpIdentity(spec: string): string {
  return `${commentOf(spec)}\0${setsMatchedBy(spec).sort().join(',')}`;
}

function jumpChanges(
  desired: DesiredFamily,
  live: LiveFamily,
  table: Table,
  stale: ReadonlySet<string>,
  opts: ChangeOptions,
): { deletes: LiveJump[]; inserts: DesiredFamily['jumps'] } {
  const liveJumps = live.jumps.filter((h) => h.table === table);
  const wanted = desired.jumps.filter((h) => h.table === table);
  const deletes: LiveJump[] = [];
  const inserts: DesiredFamily['jumps'] = [];
  const builtins = new Set([
    ...wanted.map((h) => h.builtin),
    ...liveJumps.filter((l) => BUILTINS.has(l.builtin)).map((l) => l.builtin),
  ]);
  for (const builtin of builtins) {
    const here = liveJumps.filter((l) => l.builtin === builtin);
    const want = wanted.filter((h) => h.builtin === builtin);
    const anyPosition = opts.jumpsAnywhere === true || opts.yielded?.has(chainKey(desired.family, table, builtin)) === true;
    // The comment tells a jump of this version from an older one to the same chain (whose match may differ).
    const settled =
      want.length === here.length &&
      want.every((h) =>
        here.some((l) => (anyPosition || l.index === 1) && l.chain === h.chain && jumpIdentity(l.spec) === jumpIdentity(h.spec)),
      );
    if (settled) continue;
    deletes.push(...here);
    inserts.push(...want);
  }
  deletes.push(...liveJumps.filter((l) => !BUILTINS.has(l.builtin) && stale.has(l.chain)));
  return { deletes, inserts };
}

function tableChange(desired: DesiredFamily, live: LiveFamily, table: Table, opts: ChangeOptions): TableChange | null {
  const want = desired.chains.filter((c) => c.table === table);
  const wantNames = new Set(want.map((c) => c.name));
  const liveChains = [...live.chains.values()].filter((c) => c.table === table);
  const changed = want.filter((c) => {
    const l = live.chains.get(c.name);
    return !l || l.table !== table || !sameIds(l.ids, c.ids);
  });
  const stale = liveChains.filter((c) => !wantNames.has(c.name)).map((c) => c.name);
  const staleSet = new Set(stale);

  const { deletes, inserts } = jumpChanges(desired, live, table, staleSet, opts);
  if (changed.length === 0 && stale.length === 0 && deletes.length === 0 && inserts.length === 0) return null;
  const lines = [`*${table}`];
  for (const c of changed) lines.push(`:${c.name} - [0:0]`);
  for (const name of stale) lines.push(`:${name} - [0:0]`);
  for (const c of changed) for (const spec of c.specs) lines.push(`-A ${c.name} ${spec}`);
  // By rule text, never by position: other tools share these chains and may
  // insert rules between our read and this write (Felix does the same).
  for (const d of deletes) lines.push(`-D ${d.builtin} ${d.spec}`);
  for (const h of inserts) lines.push(`-I ${h.builtin} 1 ${h.spec}`);
  for (const name of stale) lines.push(`-X ${name}`);
  lines.push('COMMIT');
  return {
    table,
    rewritten: changed.map((c) => c.name),
    removed: stale,
    jumpsDeleted: deletes.length,
    jumpsInserted: inserts.length,
    lines,
  };
}

/** Whether one table of what is live differs from what is desired (`live` may hold that table only). */
export function tableDiffers(desired: DesiredFamily, live: LiveFamily, table: Table, opts: ChangeOptions = {}): boolean {
  return tableChange(desired, live, table, opts) !== null;
}

export interface FamilyChange {
  family: 4 | 6;
  tables: TableChange[];
  /** The restore input (both tables), or '' when nothing changes. */
  batch: string;
}

export interface ChangeOptions {
  /**
   * Take our jump as in place wherever it stands in its built-in chain, as
   * long as it is there once. The read-back after a write uses it: another
   * tool may insert its own rule above ours between our write and our read,
   * which is not a failure of the write (the next reconcile moves ours up).
   */
  jumpsAnywhere?: boolean;
  /**
   * Built-in chains whose top the agent yielded to another writer (keys of
   * chainKey; src/cutover/top-of-chain.ts decides): the jump there is in place
   * wherever it stands, as long as it is there once.
   */
  yielded?: ReadonlySet<string>;
}

export function familyChange(desired: DesiredFamily, live: LiveFamily, opts: ChangeOptions = {}): FamilyChange {
  const tables = TABLES.map((t) => tableChange(desired, live, t, opts)).filter((t): t is TableChange => t !== null);
  return { family: desired.family, tables, batch: tables.length ? `${tables.flatMap((t) => t.lines).join('\n')}\n` : '' };
}

/** What is live, expressed as something to go back to (rollback). */
export function liveAsDesired(live: LiveFamily): DesiredFamily {
  const firstPerBuiltin = new Map<string, LiveJump>();
  for (const h of live.jumps) {
    if (!BUILTINS.has(h.builtin)) continue;
    const key = `${h.table}/${h.builtin}`;
    if (!firstPerBuiltin.has(key)) firstPerBuiltin.set(key, h);
  }
  return {
    family: live.family,
    chains: [...live.chains.values()].map((c) => ({ name: c.name, table: c.table, specs: [...c.specs], ids: [...c.ids] })),
    jumps: [...firstPerBuiltin.values()].map((h) => ({
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

/** Whether what is live holds exactly the desired rules, jumps and sets (nothing to write). */
export function desiredIsLive(desired: Desired, live: LiveState, opts: ChangeOptions = {}): boolean {
  const rulesEqual = desired.families.every(
    (d) => familyChange(d, live.families.find((f) => f.family === d.family)!, opts).batch === '',
  );
  return rulesEqual && setsUnchanged(setChange(desired.sets, live.sets));
}
