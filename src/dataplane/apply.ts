// Loads a desired ruleset, all or nothing:
//   1. read what is live (the snapshot to go back to)
//   2. sets, batch 1: new sets, and new contents under temporary names
//      (touches nothing a rule uses; on failure the temporaries are removed)
//   3. sets, batch 2: swap the new contents in (atomic per set)
//   4. one `iptables-restore --noflush --wait` per family with only the chains
//      that differ, the jump fixes and removed chains (atomic per table)
//   5. read back the families written and verify them by rule hash
//   6. remove old contents and sets no rule uses any more
// If 3-5 fail, the families and sets are put back as they were in 1.
import type { Desired } from '../compile/desired.js';
import { SWAP_SUFFIX } from '../compile/peer-sets.js';
import type { Family } from '../config/model.js';
import { AfwError, asAfwError } from '../errors.js';
import type { Tools } from './backend.js';
import {
  editsBatch,
  familyChange,
  invertEdits,
  liveAsDesired,
  prepareSetsBatch,
  type SetChange,
  type SetEdit,
  setChange,
  setsUnchanged,
  swapSetsBatch,
} from './changes.js';
import type { ToolRunner } from './exec.js';
import { type LiveState, readFamily, readLive } from './live.js';
import { ipsetEach, ipsetRestore, iptablesRestore } from './restore.js';

export interface ApplyReport {
  changed: boolean;
  backend: string;
  durationMs: number;
  /** Milliseconds per step: reading what is live, writing, reading back, removing old sets and cutting connections. */
  steps: { read: number; write: number; verify: number; cleanup: number };
  chainsRewritten: string[];
  chainsRemoved: string[];
  jumpsInserted: number;
  jumpsDeleted: number;
  setsCreated: string[];
  setsUpdated: string[];
  setsRemoved: string[];
  /** Addresses that left one of our peer sets (their connections are to be cut). */
  removedPeers: string[];
  /** Connections of removed peers cut (`conntrack -D -s`), or 'unavailable'; 0 when the caller cuts them itself. */
  connectionsCut: number | 'unavailable';
  /**
   * How it went in: the whole ruleset against what is live, a delta of set
   * members (apply-delta.ts), or not at all: already known live from change
   * events, nothing read (src/known-live/).
   */
  via: 'full' | 'delta' | 'known';
}

export interface ApplyOptions {
  /**
   * 'caller': leave the cut of removed peers' connections to the caller (the
   * daemon reports the new rules live first, then cuts). Default: cut before returning.
   */
  connectionCut?: 'now' | 'caller';
  /**
   * Shown what is live before anything is written; answers the built-in
   * chains whose top is yielded to another writer (their jump is left where it
   * stands). The daemon's contest for the top of chains (src/cutover/top-of-chain.ts).
   */
  beforeWrite?: (snapshot: LiveState) => ReadonlySet<string>;
}

/** The report of a load that read and wrote nothing. */
export function nothingDone(backend: string, via: ApplyReport['via']): ApplyReport {
  return {
    changed: false,
    backend,
    durationMs: 0,
    steps: { read: 0, write: 0, verify: 0, cleanup: 0 },
    chainsRewritten: [],
    chainsRemoved: [],
    jumpsInserted: 0,
    jumpsDeleted: 0,
    setsCreated: [],
    setsUpdated: [],
    setsRemoved: [],
    removedPeers: [],
    connectionsCut: 0,
    via,
  };
}

/** Destroys sets, ignoring ones already gone. */
async function destroySets(runner: ToolRunner, names: string[]): Promise<void> {
  if (names.length === 0) return;
  await runner.run('ipset', ['-exist', 'restore'], { input: `${names.map((n) => `destroy ${n}`).join('\n')}\n` });
}

export async function applyDesired(desired: Desired, tools: Tools, opts: ApplyOptions = {}): Promise<ApplyReport> {
  const started = performance.now();
  const snapshot = await readLive(tools);
  const steps = { read: performance.now() - started, write: 0, verify: 0, cleanup: 0 };
  const sets = setChange(desired.sets, snapshot.sets);
  if (sets.conflicting.length > 0) {
    throw new AfwError(
      'AFW_IPSET_FAILED',
      `set(s) ${sets.conflicting.join(', ')} exist with another type or family: run "artesca-fw flush" and apply again`,
      { step: 'ipset check' },
    );
  }
  const yielded = opts.beforeWrite?.(snapshot);
  const changes = desired.families.map((d) =>
    familyChange(d, snapshot.families.find((l) => l.family === d.family)!, yielded ? { yielded } : {}),
  );
  const report: ApplyReport = {
    changed: false,
    backend: tools.backend,
    durationMs: 0,
    steps,
    chainsRewritten: changes.flatMap((c) => c.tables.flatMap((t) => t.rewritten)),
    chainsRemoved: changes.flatMap((c) => c.tables.flatMap((t) => t.removed)),
    jumpsInserted: changes.reduce((s, c) => s + c.tables.reduce((x, t) => x + t.jumpsInserted, 0), 0),
    jumpsDeleted: changes.reduce((s, c) => s + c.tables.reduce((x, t) => x + t.jumpsDeleted, 0), 0),
    setsCreated: sets.created.map((s) => s.name),
    setsUpdated: [...sets.updated.map((s) => s.name), ...sets.edited.map((e) => e.set)].sort(),
    setsRemoved: sets.stale,
    removedPeers: [],
    connectionsCut: 0,
    via: 'full',
  };
  if (setsUnchanged(sets) && changes.every((c) => c.batch === '')) {
    report.durationMs = performance.now() - started;
    return report;
  }
  report.changed = true;

  // Batch 1: nothing live changes; on failure remove what it may have created.
  try {
    await ipsetRestore(tools.runner, prepareSetsBatch(sets), 'ipset restore (new sets and contents)');
  } catch (err) {
    await destroySets(tools.runner, [...sets.created.map((s) => s.name), ...sets.updated.map((s) => s.name + SWAP_SUFFIX)]);
    throw err;
  }

  const swapped: string[] = [];
  const edited: SetEdit[] = [];
  const touched: Family[] = [];
  try {
    await ipsetEach(
      tools.runner,
      sets.updated.map((x) => x.name),
      (n) => swapSetsBatch([n]).trim(),
      swapped,
      'ipset swap',
    );
    // Single-member changes: each add or del is atomic on its own.
    await ipsetEach(tools.runner, sets.edited, (e) => editsBatch([e]).trim(), edited, 'ipset add/del');
    // The two families are independent tables: load them side by side.
    for (const c of changes) if (c.batch) touched.push(c.family);
    const loads = await Promise.allSettled(changes.map((c) => iptablesRestore(tools, c.family, c.batch)));
    const failed = loads.find((l): l is PromiseRejectedResult => l.status === 'rejected');
    if (failed) throw failed.reason;
    steps.write = performance.now() - started - steps.read;
    // Read back what was written. A change of set members alone wrote no rule:
    // the read before the write already proved the rules are as desired.
    await verify(desired, tools, touched);
    steps.verify = performance.now() - started - steps.read - steps.write;
  } catch (err) {
    await rollback(snapshot, touched, swapped, edited, sets, tools, asAfwError(err));
    throw err;
  }

  // The old contents (now under the temporary names) and stale sets are no
  // longer referenced by any rule.
  await destroySets(tools.runner, [...sets.updated.map((s) => s.name + SWAP_SUFFIX), ...sets.stale]);
  report.removedPeers = [...new Set(sets.leaving)].sort();
  if (opts.connectionCut !== 'caller') report.connectionsCut = await cutConnections(tools.runner, report.removedPeers);
  report.durationMs = performance.now() - started;
  steps.cleanup = report.durationMs - steps.read - steps.write - steps.verify;
  return report;
}

/**
 * Conntrack accepts established connections before any policy, so a peer that
 * loses access would keep the connections it has for as long as they last.
 * Deleting their conntrack entries makes the next packet of each one a new
 * flow, which the current policy judges: what is still allowed (from any, or
 * through another set) carries on; the rest is dropped.
 */
export async function cutConnections(runner: ToolRunner, addresses: string[]): Promise<number | 'unavailable'> {
  let cut = 0;
  for (const a of addresses) {
    try {
      const res = await runner.run('conntrack', ['-D', '-f', a.includes(':') ? 'ipv6' : 'ipv4', '-s', a]);
      cut += Number(/(\d+) flow entries have been deleted/.exec(res.stderr + res.stdout)?.[1] ?? 0);
    } catch (err) {
      if (err instanceof AfwError && err.code === 'AFW_TOOL_MISSING') return 'unavailable';
      throw err;
    }
  }
  return cut;
}

/**
 * Runs one ipset command per item (each atomic on its own). ipset stops at a
 * failing line, so on failure `done` holds exactly the items whose line ran:
 * what a rollback has to undo.
 */

/** Reads back the families written and checks that they hold exactly what was asked for. */
export async function verify(desired: Desired, tools: Tools, families: readonly Family[] = [4, 6]): Promise<void> {
  const wanted = desired.families.filter((d) => families.includes(d.family));
  const lives = await Promise.all(wanted.map((d) => readFamily(tools, d.family)));
  for (const [i, d] of wanted.entries()) {
    const diff = familyChange(d, lives[i]!, { jumpsAnywhere: true });
    if (diff.batch !== '') {
      const what = diff.tables.map((t) => `${t.table}: ${[...t.rewritten, ...t.removed].join(', ') || 'jump rules'}`).join('; ');
      throw new AfwError('AFW_VERIFY_FAILED', `IPv${d.family} rules read back differ from what was loaded (${what})`, {
        step: 'read-back',
      });
    }
  }
}

async function rollback(
  snapshot: LiveState,
  touched: Family[],
  swapped: string[],
  edited: SetEdit[],
  sets: SetChange,
  tools: Tools,
  cause: AfwError,
): Promise<void> {
  const failures: string[] = [];
  for (const family of touched) {
    try {
      const before = snapshot.families.find((f) => f.family === family)!;
      const now = await readFamily(tools, family);
      const back = familyChange(liveAsDesired(before), now);
      await iptablesRestore(tools, family, back.batch);
    } catch (err) {
      failures.push(`IPv${family} rules: ${asAfwError(err).message}`);
    }
  }
  try {
    if (swapped.length) await ipsetRestore(tools.runner, swapSetsBatch(swapped), 'ipset swap back');
    if (edited.length) await ipsetRestore(tools.runner, editsBatch(invertEdits(edited)), 'ipset undo of in-place edits');
  } catch (err) {
    failures.push(`sets: ${asAfwError(err).message}`);
  }
  await destroySets(tools.runner, [...sets.created.map((s) => s.name), ...sets.updated.map((s) => s.name + SWAP_SUFFIX)]);
  if (failures.length) {
    throw new AfwError('AFW_ROLLBACK_FAILED', `${cause.message}; and rolling back failed too: ${failures.join('; ')}`, {
      step: cause.step ?? 'rollback',
      cause,
    });
  }
}
