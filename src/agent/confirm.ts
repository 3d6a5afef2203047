// Apply with automatic rollback (as iptables-apply, Shorewall safe-restart and
// Talos --mode=try do): `apply --confirm N` loads the new ruleset and records
// what was live before; unless `artesca-fw confirm` runs within N seconds, a
// detached watcher (or, if it died, the daemon) loads the previous one again.
// The new ruleset becomes last-known-good only when confirmed, so a reboot
// during the trial also comes back to the previous one.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { appendFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Desired } from '../compile/desired.js';
import type { AddressSet } from '../compile/ruleset.js';
import { applyDesired } from '../dataplane/apply.js';
import { toolsFor } from '../dataplane/backend.js';
import { desiredIsLive, liveAsDesired } from '../dataplane/changes.js';
import type { ToolRunner } from '../dataplane/exec.js';
import { type LiveState, readLive } from '../dataplane/live.js';
import { WriteLock } from '../dataplane/write-lock.js';
import { AfwError } from '../errors.js';
import { type Pending, pendingSchema, type RolledBack, readStateFile, rolledBackSchema, writeStateFile } from './state-files.js';
import { saveState } from './state-store.js';

export type { Pending, RolledBack } from './state-files.js';

const PENDING_FILE = 'pending-confirmation.json';
export const ROLLED_BACK_FILE = 'rolled-back.json';

/** What is live, as a ruleset that can be loaded again. */
export function snapshotAsDesired(live: LiveState): Desired {
  const sets: AddressSet[] = [...live.sets.values()]
    .filter((s) => !s.name.endsWith('-swp'))
    .map((s) => ({
      name: s.name,
      family: s.family,
      type: s.type === 'hash:net' ? 'hash:net' : 'hash:ip',
      members: [...s.members],
      describes: 'as live before apply --confirm',
    }));
  return { families: live.families.map(liveAsDesired), sets };
}

export const readPending = (stateDir: string) =>
  readStateFile(path.join(stateDir, PENDING_FILE), pendingSchema, [
    ['tentativeHash', 'tentative'],
    ['previousHash', 'previous'],
  ]);
export const readRolledBack = (stateDir: string) =>
  readStateFile(path.join(stateDir, ROLLED_BACK_FILE), rolledBackSchema, [['restoredHash', 'restored']]);
export const clearRolledBack = (stateDir: string) => rm(path.join(stateDir, ROLLED_BACK_FILE), { force: true });
export const clearPending = (stateDir: string) => rm(path.join(stateDir, PENDING_FILE), { force: true });

export async function writePending(stateDir: string, p: Pending): Promise<void> {
  await writeStateFile(path.join(stateDir, PENDING_FILE), p);
}

/** Starts the detached process that rolls back at the deadline (it outlives the shell that ran apply). */
export function spawnRollbackWatcher(stateDir: string): void {
  const log = openSync(path.join(stateDir, 'rollback.log'), 'a', 0o600);
  const child = spawn(process.execPath, [process.argv[1]!, 'rollback-watch', '--state-dir', stateDir], {
    detached: true,
    stdio: ['ignore', log, log],
    shell: false,
  });
  child.unref();
  closeSync(log);
}

/**
 * Loads the previous ruleset if the pending one (created at `createdAt`) is
 * still unconfirmed. Returns true when it rolled back. The caller holds the
 * write lock: confirm and the rollback decide one after the other, never both.
 */
export async function rollbackIfUnconfirmed(stateDir: string, runner: ToolRunner, createdAt?: string): Promise<boolean> {
  const pending = await readPending(stateDir);
  if (!pending || (createdAt && pending.createdAt !== createdAt)) return false;
  await applyDesired(pending.previous, toolsFor(pending.backend, runner));
  const marker: RolledBack = {
    at: new Date().toISOString(),
    refusedHash: pending.tentativeHash,
    restoredHash: pending.previousHash,
    restored: pending.previous,
    backend: pending.backend,
  };
  await writeStateFile(path.join(stateDir, ROLLED_BACK_FILE), marker);
  await clearPending(stateDir);
  await appendFile(
    path.join(stateDir, 'rollback.log'),
    `${marker.at} rolled back: ruleset ${pending.tentativeHash} was not confirmed by ${pending.deadline}; ${pending.previousHash} is live again\n`,
  );
  return true;
}

/** `artesca-fw rollback-watch`: sleeps until the deadline, then, holding the write lock, rolls back unless confirmed. */
export async function rollbackWatch(stateDir: string, runner: ToolRunner): Promise<void> {
  const first = await readPending(stateDir);
  if (!first) return;
  for (;;) {
    const p = await readPending(stateDir);
    if (!p || p.createdAt !== first.createdAt) return; // confirmed, or replaced by a newer apply --confirm
    if (Date.now() >= Date.parse(p.deadline)) {
      await new WriteLock(runner, 'rollback-watch').hold(() => rollbackIfUnconfirmed(stateDir, runner, p.createdAt));
      return;
    }
    await new Promise((r) => setTimeout(r, Math.min(200, Math.max(10, Date.parse(p.deadline) - Date.now()))));
  }
}

/**
 * `artesca-fw confirm`: keeps the pending ruleset and makes it the last-known-good
 * one. The caller holds the write lock, so the rollback watcher cannot act in
 * between: "confirmed" means the trial ruleset is live and recorded.
 */
export async function confirmPending(stateDir: string, runner: ToolRunner): Promise<Pending> {
  const p = await readPending(stateDir);
  if (!p) {
    const rolled = await readRolledBack(stateDir).catch(() => undefined);
    throw new AfwError(
      'AFW_CONFIRM_REFUSED',
      rolled
        ? `nothing to confirm: ruleset ${rolled.refusedHash} was not confirmed in time and was rolled back at ${rolled.at}`
        : `nothing to confirm: no apply --confirm is pending in ${stateDir}`,
    );
  }
  if (Date.now() >= Date.parse(p.deadline)) {
    throw new AfwError(
      'AFW_CONFIRM_REFUSED',
      `too late: the confirmation window closed at ${p.deadline}; the previous ruleset ${p.previousHash} is being restored`,
    );
  }
  const live = await readLive(toolsFor(p.backend, runner));
  if (!desiredIsLive(p.tentative, live)) {
    throw new AfwError(
      'AFW_CONFIRM_REFUSED',
      `the trial ruleset ${p.tentativeHash} is no longer the live one (another writer changed it): not confirmed; it will be rolled back at ${p.deadline}`,
    );
  }
  await saveState(stateDir, p.node, p.backend, p.tentative);
  await clearPending(stateDir);
  await clearRolledBack(stateDir);
  return p;
}
