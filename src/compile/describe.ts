// Plain-language summaries of a compiled ruleset (`check`) and its counts
// (`/status`, logs, metrics).
import type { Config, Inventory } from '../config/model.js';
import type { Ruleset } from './ruleset.js';

export interface RulesetCounts {
  rules: number;
  rulesByFamily: Record<string, number>;
  chains: number;
  sets: number;
  setMembers: number;
}

export function countRuleset(rs: Ruleset): RulesetCounts {
  const rulesByFamily: Record<string, number> = {};
  let rules = 0;
  let chains = 0;
  for (const fr of rs.families) {
    const n = fr.chains.reduce((s, c) => s + c.rules.length, 0) + fr.jumps.length;
    rulesByFamily[`ipv${fr.family}`] = n;
    rules += n;
    chains += fr.chains.length;
  }
  return { rules, rulesByFamily, chains, sets: rs.sets.length, setMembers: rs.sets.reduce((s, x) => s + x.members.length, 0) };
}

export function describeRuleset(rs: Ruleset, config: Config, inventory: Inventory, backend: string): string {
  const counts = countRuleset(rs);
  const eps = rs.endpoints.map(
    (e) => `${e.planes.join(' and ')} on ${e.interface}${e.addresses.length ? ` (${e.addresses.join(', ')})` : ''}`,
  );
  const parts: string[] = [];
  parts.push(
    `${rs.node.name} (roles: ${rs.node.roles.length ? rs.node.roles.join(', ') : 'none'}) enforces ${eps.length ? eps.join(', ') : 'no plane interface'}`,
  );
  if (rs.unresolved.length) parts.push(`not yet enforced: ${rs.unresolved.map((u) => `${u.plane} (${u.reason})`).join('; ')}`);
  parts.push(`${rs.policies.length} policies apply in this order: ${rs.policies.join(', ')}`);
  const vips = config.virtualIPs.management.length + config.virtualIPs.data.length;
  parts.push(
    `everything else arriving on or leaving by those interfaces is ${config.mode === 'audit' ? 'logged and let through (audit mode)' : `${config.denyAction === 'drop' ? 'dropped' : 'rejected'}${config.logDrops ? ' and logged' : ''}`}`,
  );
  parts.push(
    `${counts.rules} rules (IPv4 ${counts.rulesByFamily.ipv4}, IPv6 ${counts.rulesByFamily.ipv6}) in ${counts.chains} chains and ${counts.sets} sets hold ${inventory.nodes.length} inventory nodes and ${vips} VIPs`,
  );
  const fsIn = config.failsafe.inbound.map((f) => f.text).join(', ') || 'none';
  const fsOut = config.failsafe.outbound.map((f) => f.text).join(', ') || 'none';
  parts.push(`ICMP ${config.icmp}; failsafe inbound ${fsIn}, outbound ${fsOut}; iptables backend ${backend}`);
  return `${parts.join('. ')}.`;
}
