// The last-known-good ruleset in stateDir: written after every successful
// apply, loaded at boot (`apply --from-state`) before any config is read, so a
// rebooted node is protected even when its config is broken.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Desired, desiredHash } from '../compile/desired.js';
import { AfwError } from '../errors.js';

export const STATE_FILE = 'last-good.json';
const FORMAT = 1;

export interface StoredState {
  format: number;
  savedAt: string;
  node: string;
  backend: string;
  hash: string;
  desired: Desired;
}

export async function saveState(stateDir: string, node: string, backend: string, desired: Desired): Promise<string> {
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
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    // Write then rename: a crash never leaves a half-written state file.
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(state)}\n`, { mode: 0o600 });
    await rename(tmp, file);
  } catch (err) {
    throw new AfwError('AFW_STATE_WRITE', `cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
  return file;
}

export async function loadState(stateDir: string): Promise<StoredState> {
  const file = path.join(stateDir, STATE_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new AfwError(
      'AFW_STATE_MISSING',
      `${file}: no last-known-good ruleset (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
      {
        cause: err,
      },
    );
  }
  try {
    const state = JSON.parse(text) as StoredState;
    if (state.format !== FORMAT || !state.desired?.families || !Array.isArray(state.desired.sets))
      throw new Error('unknown format');
    if (desiredHash(state.desired) !== state.hash) throw new Error('hash mismatch (file edited or damaged)');
    return state;
  } catch (err) {
    throw new AfwError('AFW_STATE_CORRUPT', `${file}: ${(err as Error).message}`, { cause: err });
  }
}
