// The last-known-good ruleset in stateDir: written after every successful
// apply, loaded at boot (`apply --from-state`) before any config is read, so a
// rebooted node is protected even when its config is broken.
import path from 'node:path';
import { type Desired, desiredHash } from '../compile/desired.js';
import type { Backend } from '../dataplane/backend.js';
import { AfwError } from '../errors.js';
import { readStateFile, type StoredState, storedStateSchema, writeStateFile } from './state-files.js';

export type { StoredState } from './state-files.js';

export const STATE_FILE = 'last-good.json';
/** 2: the jump rules are `jumps` (format 1 called them `hooks`; still read). */
const FORMAT = 2;

export async function saveState(stateDir: string, node: string, backend: Backend, desired: Desired): Promise<string> {
  const file = path.join(stateDir, STATE_FILE);
  const state: StoredState = {
    format: FORMAT,
    savedAt: new Date().toISOString(),
    node,
    backend,
    hash: desiredHash(desired),
    desired,
  };
  try {
    await writeStateFile(file, state);
  } catch (err) {
    throw new AfwError('AFW_STATE_WRITE', `cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
  return file;
}

export async function loadState(stateDir: string): Promise<StoredState> {
  const file = path.join(stateDir, STATE_FILE);
  const state = await readStateFile(file, storedStateSchema, [['hash', 'desired']]);
  if (!state) throw new AfwError('AFW_STATE_MISSING', `${file}: no last-known-good ruleset (ENOENT)`);
  return state;
}
