// The form the dataplane loads and the state dir stores: rendered rule text
// with hashes, jumps and sets. A Ruleset becomes this by rendering; a
// last-known-good state file is this, so `apply --from-state` needs no config.
import { createHash } from 'node:crypto';
import type { Family } from '../config/model.js';
import { jumpSpec, renderChain } from './render-iptables.js';
import type { AddressSet, BuiltinChain, Ruleset, Table } from './ruleset.js';

export interface DesiredChain {
  name: string;
  table: Table;
  /** Rule text after `-A NAME `. */
  specs: string[];
  /** The identity of each rule (its hash), compared with what is live. */
  ids: string[];
}

export interface DesiredJump {
  table: Table;
  builtin: BuiltinChain;
  chain: string;
  spec: string;
}

export interface DesiredFamily {
  family: Family;
  chains: DesiredChain[];
  jumps: DesiredJump[];
}

export interface Desired {
  families: DesiredFamily[];
  sets: AddressSet[];
}

export function toDesired(rs: Ruleset): Desired {
  return {
    families: rs.families.map((fr) => ({
      family: fr.family,
      chains: fr.chains.map((c) => {
        const r = renderChain(c, fr.family);
        return { name: c.name, table: c.table, specs: r.rules.map((x) => x.spec), ids: r.rules.map((x) => x.hash) };
      }),
      jumps: fr.jumps.map((h) => ({ table: h.table, builtin: h.builtin, chain: h.chain, spec: jumpSpec(h, fr.family) })),
    })),
    // The very set objects of the ruleset: sets are never changed once made, and
    // a set a compile did not change is the same object (peer-sets.ts' memo).
    sets: rs.sets,
  };
}

/**
 * The JSON text of each set, kept by the caller while the same set objects
 * come back compile after compile: a Node event changes a few sets, and only
 * their text is made again.
 */
export type SetTextMemo = WeakMap<AddressSet, string>;

/**
 * A short stable digest of everything that would be loaded: of its JSON text
 * (state files store it and are checked against it, so it never changes
 * meaning). With a memo, the same bytes are hashed piece by piece.
 */
export function desiredHash(d: Desired, memo?: SetTextMemo): string {
  const hash = createHash('sha256');
  if (!memo || Object.keys(d).join() !== 'families,sets') return hash.update(JSON.stringify(d)).digest('hex').slice(0, 16);
  hash.update(`{"families":${JSON.stringify(d.families)},"sets":[`);
  d.sets.forEach((s, i) => {
    let text = memo.get(s);
    if (text === undefined) {
      text = JSON.stringify(s);
      memo.set(s, text);
    }
    if (i > 0) hash.update(',');
    hash.update(text);
  });
  return hash.update(']}').digest('hex').slice(0, 16);
}

/** Rule and set counts of a desired ruleset: what countRuleset gives for the Ruleset it came from (chains aside). */
export function countDesired(d: Desired): {
  rules: number;
  rulesByFamily: Record<string, number>;
  sets: number;
  setMembers: number;
} {
  const rulesByFamily: Record<string, number> = {};
  for (const f of d.families) rulesByFamily[`ipv${f.family}`] = f.chains.reduce((x, c) => x + c.specs.length, 0) + f.jumps.length;
  return {
    rules: Object.values(rulesByFamily).reduce((s, n) => s + n, 0),
    rulesByFamily,
    sets: d.sets.length,
    setMembers: d.sets.reduce((s, x) => s + x.members.length, 0),
  };
}

/**
 * How many matches of each set the rules hold: the kernel's reference count
 * of the set once they are loaded (`ipset -t list`, "References"), on both
 * backends. A rule flushed or deleted by someone else lowers it, which the
 * drift watcher sees without reading a table.
 */
export function setReferences(d: Desired): Map<string, number> {
  const refs = new Map<string, number>(d.sets.map((s) => [s.name, 0]));
  const count = (spec: string) => {
    for (const name of setsMatchedBy(spec)) refs.set(name, (refs.get(name) ?? 0) + 1);
  };
  for (const f of d.families) {
    for (const c of f.chains) for (const spec of c.specs) count(spec);
    for (const j of f.jumps) count(j.spec);
  }
  return refs;
}

/** The set of each `--match-set` of a rule spec (as rendered, or as iptables-save prints it), once per match. */
export function setsMatchedBy(spec: string): string[] {
  return [...spec.matchAll(/--match-set (\S+)/g)].map((m) => m[1]!);
}
