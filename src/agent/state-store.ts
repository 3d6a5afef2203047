// The last-known-good ruleset in stateDir: written after every successful
// apply, loaded at boot (`apply --from-state`) before any config is read, so a
// rebooted node is protected even when its config is broken.
import path from 'node:path';
import { type Desired, desiredHash } from '../compile/desired.js';
import type { Backend } from '../dataplane/backend.js';
import { AfwError } from '../errors.js';
import { readStateFile, type StoredState, storedStateSchema, writeStateChunks } from './state-files.js';

export type { StoredState } from './state-files.js';

export const STATE_FILE = 'last-good.json';
/** 2: the jump rules are `jumps` (format 1 called them `hooks`; still read). */
const FORMAT = 2;

export async function saveState(
  stateDir: string,
  node: string,
  backend: Backend,
  desired: Desired,
  /** desiredHash(desired), when the caller has it already. */
  hash = desiredHash(desired),
): Promise<string> {
  const file = path.join(stateDir, STATE_FILE);
  const state: StoredState = {
    format: FORMAT,
    savedAt: new Date().toISOString(),
    node,
    backend,
    hash,
    desired,
  };
  try {
    await writeStateChunks(file, stateChunks(state));
  } catch (err) {
    throw new AfwError('AFW_STATE_WRITE', `cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
  return file;
}

const EMPTY_SETS = '"sets": []';

/**
 * The text writeStateFile writes (JSON, one space of indent), made a set at a
 * time as the writer asks for it: at 20,000 nodes a set is thousands of lines,
 * and other work runs between the pieces.
 */
export function* stateChunks(state: StoredState): Generator<string> {
  const { sets } = state.desired;
  // Everything but the sets; they are the last field of `desired`, itself the last field.
  const head = JSON.stringify({ ...state, desired: { ...state.desired, sets: [] } }, null, 1);
  const at = head.lastIndexOf(EMPTY_SETS);
  if (sets.length === 0 || at < 0) {
    yield `${JSON.stringify(state, null, 1)}\n`;
    return;
  }
  yield `${head.slice(0, at)}"sets": [\n`;
  for (const [i, set] of sets.entries()) {
    yield `   ${JSON.stringify(set, null, 1).replaceAll('\n', '\n   ')}${i < sets.length - 1 ? ',' : ''}\n`;
  }
  yield `  ]${head.slice(at + EMPTY_SETS.length)}\n`;
}

export async function loadState(stateDir: string): Promise<StoredState> {
  const file = path.join(stateDir, STATE_FILE);
  const state = await readStateFile(file, storedStateSchema, [['hash', 'desired']]);
  if (!state) throw new AfwError('AFW_STATE_MISSING', `${file}: no last-known-good ruleset (ENOENT)`);
  return state;
}
