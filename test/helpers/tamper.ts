// Damaged and tampered state files, each with the field its refusal must name.
// Every case but "wrong hash" recomputes the hash, so that the schema (not the
// hash) is what catches it.
import { type Desired, desiredHash } from '../../src/compile/desired.js';

export interface Tamper {
  name: string;
  /** The field the error must name (a fragment of `FILE:LINE:COL: field`). */
  field: string;
  make(good: Record<string, unknown>): string;
}

type State = { hash: string; desired: Desired; backend: string; [k: string]: unknown };

function rehashed(mutate: (s: State) => void): (good: Record<string, unknown>) => string {
  return (good) => {
    const s = structuredClone(good) as State;
    mutate(s);
    s.hash = desiredHash(s.desired);
    return JSON.stringify(s, null, 1);
  };
}

export const TAMPERS: Tamper[] = [
  {
    name: 'a chain name that is not ours',
    field: 'desired.families[0].chains[0].name',
    make: rehashed((s) => {
      s.desired.families[0]!.chains[0]!.name = 'INPUT';
    }),
  },
  {
    name: 'a set name without our prefix',
    field: 'desired.sets[0].name',
    make: rehashed((s) => {
      s.desired.sets[0]!.name = 'cali40all-hosts-net';
    }),
  },
  {
    name: 'a newline in a rule spec (a second restore line)',
    field: 'desired.families[0].chains[0].specs[0]',
    make: rehashed((s) => {
      const c = s.desired.families[0]!.chains[0]!;
      c.specs[0] = `${c.specs[0]}\n-A INPUT -j ACCEPT`;
    }),
  },
  {
    name: 'a set member that would become a second ipset command',
    field: 'desired.sets[0].members[0]',
    make: rehashed((s) => {
      s.desired.sets[0]!.members[0] = '10.100.0.1\ndestroy cali40all-hosts-net';
    }),
  },
  {
    name: 'an unknown backend',
    field: 'backend',
    make: rehashed((s) => {
      s.backend = 'bpfilter';
    }),
  },
  {
    name: 'a hash that does not match the content',
    field: 'hash',
    make: (good) => {
      const s = structuredClone(good) as State;
      s.desired.sets[0]!.members.push('10.100.0.99');
      return JSON.stringify(s, null, 1);
    },
  },
  { name: 'truncated JSON', field: 'not valid JSON', make: (good) => JSON.stringify(good, null, 1).slice(0, 200) },
  {
    name: 'a field of the wrong type',
    field: 'desired.families[0].family',
    make: rehashed((s) => {
      (s.desired.families[0] as unknown as { family: string }).family = '4';
    }),
  },
  {
    name: 'a missing field',
    field: 'desired.sets',
    make: rehashed((s) => {
      const { sets: _sets, ...rest } = s.desired;
      s.desired = rest as Desired;
    }),
  },
  {
    name: 'a jump rule that jumps somewhere else',
    field: 'desired.families[0].jumps[0].spec',
    make: rehashed((s) => {
      s.desired.families[0]!.jumps[0]!.spec = '-j ACCEPT';
    }),
  },
];
