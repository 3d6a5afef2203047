// Maps a live rule (chain + hash) back to why it is there, for per-policy
// counters. Pure.
import type { Family } from '../config/model.js';
import { renderRule } from './render-iptables.js';
import type { Origin, Ruleset } from './ruleset.js';

export interface RuleLabels {
  policy: string;
  endpoint: string;
  direction: string;
  decision: string;
  family: string;
}

function labelsOf(origin: Origin, chain: string, family: Family, audit: boolean): RuleLabels | undefined {
  const endpoint = /^AFW-([A-Z]+)-(IN|OUT)/.exec(chain)?.[1] ?? '';
  const fam = `ipv${family}`;
  switch (origin.kind) {
    case 'policy':
      return { policy: origin.policy, endpoint, direction: origin.direction, decision: origin.action, family: fam };
    case 'base':
      return {
        policy: 'base',
        endpoint,
        direction: chain.endsWith('-IN') ? 'ingress' : 'egress',
        decision: origin.what,
        family: fam,
      };
    case 'failsafe':
      return { policy: 'failsafe', endpoint, direction: origin.direction, decision: origin.entry, family: fam };
    case 'default-deny':
      return { policy: 'default', endpoint, direction: origin.direction, decision: audit ? 'audit' : 'deny', family: fam };
    default:
      return undefined; // dispatch, deny-chain and reject plumbing: counted where the decision is made
  }
}

/** `chain/hash` -> labels, for every rule that stands for a decision. */
export function ruleIndex(rs: Ruleset): Map<string, RuleLabels> {
  const index = new Map<string, RuleLabels>();
  for (const fr of rs.families) {
    for (const chain of fr.chains) {
      for (const rule of chain.rules) {
        const labels = labelsOf(rule.origin, chain.name, fr.family, rs.mode === 'audit');
        if (!labels) continue;
        const { hash } = renderRule(rule, fr.family);
        const key = `${chain.name}/${hash}`;
        if (!index.has(key)) index.set(key, labels);
      }
    }
  }
  return index;
}
