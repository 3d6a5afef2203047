// The text `artesca-fw plan` prints: the three batches a fresh load would use.
import { desiredHash, toDesired } from './desired.js';
import { renderSets } from './render-ipset.js';
import { renderFamily } from './render-iptables.js';
import type { Ruleset } from './ruleset.js';

export interface PlanText {
  hash: string;
  ipset: string;
  ipv4: string;
  ipv6: string;
  text: string;
}

/**
 * `hash`: the ruleset's hash (desiredHash) when the caller has it already: the
 * plan is named by it, and hashing again would write every set member out as
 * JSON once more.
 */
export function planText(rs: Ruleset, hash = desiredHash(toDesired(rs))): PlanText {
  const ipset = renderSets(rs.sets);
  const ipv4 = renderFamily(rs.families.find((f) => f.family === 4)!);
  const ipv6 = renderFamily(rs.families.find((f) => f.family === 6)!);
  const text = [
    `# artesca-fw plan for ${rs.node.name} (ruleset ${hash})`,
    '# --- ipset: load with `ipset -exist restore` ---',
    ipset.trimEnd(),
    '# --- IPv4: load with `iptables-restore --noflush` ---',
    ipv4.trimEnd(),
    '# --- IPv6: load with `ip6tables-restore --noflush` ---',
    ipv6.trimEnd(),
  ].join('\n');
  return { hash, ipset, ipv4, ipv6, text: `${text}\n` };
}
