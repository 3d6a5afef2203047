// Ruleset sets -> `ipset restore` input. ipset restore is not atomic as a whole,
// so every set's content is built in a temporary set and swapped in: a rule
// that references the set sees the old members or the new ones, never a mix.

import { SWAP_SUFFIX } from './peer-sets.js';
import type { AddressSet } from './ruleset.js';

/** Fixed so that `create -exist` of an existing set always matches its parameters. */
export const SET_MAXELEM = 65536;

export function createLine(set: AddressSet, name = set.name): string {
  return `create ${name} ${set.type} family ${set.family === 4 ? 'inet' : 'inet6'} maxelem ${SET_MAXELEM}`;
}

/**
 * Builds the new content under `<name>-swp`, swaps it in and removes the old
 * content: the lines go onto `out` (a set of thousands of members is not
 * copied from array to array on its way into the batch).
 */
function swapInLines(set: AddressSet, out: string[]): void {
  const tmp = set.name + SWAP_SUFFIX;
  out.push(createLine(set, tmp), `flush ${tmp}`);
  for (let i = 0; i < set.members.length; i++) out.push(`add ${tmp} ${set.members[i]}`);
  out.push(`swap ${tmp} ${set.name}`, `destroy ${tmp}`);
}

/**
 * The whole set batch as `plan` prints it: loadable with `ipset -exist restore`
 * on a fresh host or over an earlier load (the `-exist` makes `create` of an
 * existing set a no-op).
 */
export function renderSets(sets: AddressSet[]): string {
  const lines: string[] = [];
  for (const set of sets) {
    lines.push(createLine(set));
    swapInLines(set, lines);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}
