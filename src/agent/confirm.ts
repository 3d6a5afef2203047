// Apply with automatic rollback (as iptables-apply, Shorewall safe-restart and
// Talos --mode=try do): `apply --confirm N` loads the new ruleset and records
// what was live before; unless `artesca-fw confirm` runs within N seconds, a
// detached watcher (or, if it died, the daemon) loads the previous one again.
// The new ruleset becomes last-known-good only when confirmed, so a reboot
// during the trial also comes back to the previous one.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { appendFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Desired } from '../compile/desired.js';
import type { AddressSet } from '../compile/ruleset.js';
import { applyDesired } from '../dataplane/apply.js';
import { type Backend, toolsFor } from '../dataplane/backend.js';
import { liveAsDesired } from '../dataplane/changes.js';
import type { LiveState } from '../dataplane/live.js';
import { AfwError } from '../errors.js';
import { saveState } from './state-store.js';

const PENDING_FILE = 'pending-confirmation.json';
export const ROLLED_BACK_FILE = 'rolled-back.json';

export interface Pending {
  createdAt: string;
  deadline: string;
  node: string;
  backend: Backend;
  tentativeHash: string;
  tentative: Desired;
  previousHash: string;
  previous: Desired;
}

export interface RolledBack {
  at: string;
  refusedHash: string;
  restoredHash: string;
  restored: Desired;
  backend: Backend;
}

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

async function writeJson(file: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AfwError('AFW_STATE_CORRUPT', `${file}: ${(err as Error).message}`, { cause: err });
  }
}

export const readPending = (stateDir: string) => readJson<Pending>(path.join(stateDir, PENDING_FILE));
export const readRolledBack = (stateDir: string) => readJson<RolledBack>(path.join(stateDir, ROLLED_BACK_FILE));
export const clearRolledBack = (stateDir: string) => rm(path.join(stateDir, ROLLED_BACK_FILE), { force: true });
export const clearPending = (stateDir: string) => rm(path.join(stateDir, PENDING_FILE), { force: true });

export async function writePending(stateDir: string, p: Pending): Promise<void> {
  await writeJson(path.join(stateDir, PENDING_FILE), p);
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
 * still unconfirmed. Returns true when it rolled back.
 */
export async function rollbackIfUnconfirmed(stateDir: string, createdAt?: string): Promise<boolean> {
  const pending = await readPending(stateDir);
  if (!pending || (createdAt && pending.createdAt !== createdAt)) return false;
  await applyDesired(pending.previous, toolsFor(pending.backend));
  const marker: RolledBack = {
    at: new Date().toISOString(),
    refusedHash: pending.tentativeHash,
    restoredHash: pending.previousHash,
    restored: pending.previous,
    backend: pending.backend,
  };
  await writeJson(path.join(stateDir, ROLLED_BACK_FILE), marker);
  await clearPending(stateDir);
  await appendFile(
    path.join(stateDir, 'rollback.log'),
    `${marker.at} rolled back: ruleset ${pending.tentativeHash} was not confirmed by ${pending.deadline}; ${pending.previousHash} is live again\n`,
  );
  return true;
}

/** `artesca-fw rollback-watch`: sleeps until the deadline, then rolls back unless confirmed. */
export async function rollbackWatch(stateDir: string): Promise<void> {
  const first = await readPending(stateDir);
  if (!first) return;
  for (;;) {
    const p = await readPending(stateDir);
    if (!p || p.createdAt !== first.createdAt) return; // confirmed, or replaced by a newer apply --confirm
    if (Date.now() >= Date.parse(p.deadline)) {
      await rollbackIfUnconfirmed(stateDir, p.createdAt);
      return;
    }
    await new Promise((r) => setTimeout(r, Math.min(200, Math.max(10, Date.parse(p.deadline) - Date.now()))));
  }
}

/** `artesca-fw confirm`: keeps the pending ruleset and makes it the last-known-good one. */
export async function confirmPending(stateDir: string): Promise<Pending> {
  const p = await readPending(stateDir);
  if (!p) throw new AfwError('AFW_STATE_MISSING', `nothing to confirm: no apply --confirm is pending in ${stateDir}`);
  if (Date.now() >= Date.parse(p.deadline)) {
    throw new AfwError(
      'AFW_STATE_MISSING',
      `too late: the confirmation window closed at ${p.deadline}; the previous ruleset is being restored`,
    );
  }
  await saveState(stateDir, p.node, p.backend, p.tentative);
  await clearPending(stateDir);
  await clearRolledBack(stateDir);
  return p;
}
