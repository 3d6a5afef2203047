// Policies -> Ruleset. Pure and deterministic: the same config, inventory and
// interfaces always give the same value.
//
// Layout (per address family):
//   mangle PREROUTING -> AFW-PREROUTING: per endpoint, packets arriving on its
//     interface for a host address (LOCAL, and BROADCAST/MULTICAST for VRRP
//     and DHCP) go to AFW-<EP>-IN. mangle PREROUTING runs before DNAT, so one
//     chain covers local delivery, VIPs and hostPort/NodePort DNAT alike, while
//     routed pod traffic (not a host address) passes untouched.
//   filter OUTPUT -> AFW-OUTPUT: per endpoint, packets leaving by its interface
//     go to AFW-<EP>-OUT.
//   Both dispatch chains first accept established and related traffic.
//   AFW-<EP>-IN / -OUT: base rules, policies in order, then the default deny,
//     which jumps (goto) to AFW-<EP>-IN-DENY / -OUT-DENY: log, then drop,
//     reject, or (audit mode) nothing.
//   denyAction reject: REJECT is not valid in mangle, so ingress marks the
//     packet and filter INPUT / FORWARD (AFW-INPUT, AFW-FORWARD) reject it.
// An allowed packet RETURNs: artesca-fw only ever removes packets; whatever the
// host's other rules do with the rest is left to them.
import type { Config, Family, Inventory, Policy, PolicyRule, PortRange, Role } from '../config/model.js';
import { effectivePolicies } from '../policy/effective.js';
import { NFLOG_SIZE, recordPrefix } from './denied-rules.js';
import { PeerSets, type PeerSetsMemo } from './peer-sets.js';
import { type HostInterface, type InterfaceOverrides, resolveEndpoints } from './resolve.js';
import {
  type AddressSet,
  type Chain,
  type Direction,
  type Endpoint,
  type FamilyRuleset,
  type Jump,
  type Match,
  REJECT_MARK,
  type Rule,
  type Ruleset,
  type Verdict,
  watchSetName,
} from './ruleset.js';

export interface CompileInput {
  config: Config;
  inventory: Inventory;
  interfaces: HostInterface[];
  overrides?: InterfaceOverrides;
  /** The last compile's plane sets (the daemon's): a few nodes changed, only their members move. */
  setsMemo?: PeerSetsMemo;
}

const PROTO = { icmp: 1, ipip: 4, tcp: 6, udp: 17, icmpv6: 58 } as const;
const ICMP4_ESSENTIAL: [number, string][] = [
  [8, 'echo-request'],
  [3, 'destination-unreachable'],
  [11, 'time-exceeded'],
  [12, 'parameter-problem'],
];
const ICMP6_ESSENTIAL: [number, string][] = [
  [128, 'echo-request'],
  [1, 'destination-unreachable'],
  [2, 'packet-too-big'],
  [3, 'time-exceeded'],
  [4, 'parameter-problem'],
];
/**
 * Neighbour discovery is to IPv6 what ARP is to IPv4 (which iptables never
 * sees), and MLD keeps solicited-node multicast flowing through snooping
 * switches: both are accepted whatever `icmp` says, before the INVALID check
 * (conntrack does not track them).
 */
const ICMP6_LINK: [number, string][] = [
  [133, 'router-solicitation'],
  [134, 'router-advertisement'],
  [135, 'neighbour-solicitation'],
  [136, 'neighbour-advertisement'],
  [130, 'mld-query'],
  [131, 'mld-report'],
  [132, 'mld-done'],
  [143, 'mldv2-report'],
];

/** Log rate limit: enough to see what is denied, never enough to flood the journal. */
const LOG_LIMIT = { rate: '60/minute', burst: 10 };
/** iptables' LOG prefix holds at most 29 characters. */
const LOG_PREFIX_MAX = 29;
/** multiport takes at most 15 ports, a range counting for two. */
const MULTIPORT_SLOTS = 15;

export function logPrefix(text: string): string {
  return `${text.slice(0, LOG_PREFIX_MAX - 1)} `;
}

export function chainNames(ep: string) {
  return { in: `AFW-${ep}-IN`, inDeny: `AFW-${ep}-IN-DENY`, out: `AFW-${ep}-OUT`, outDeny: `AFW-${ep}-OUT-DENY` };
}

export function compile(input: CompileInput): Ruleset {
  const { config, inventory } = input;
  const { endpoints, unresolved } = resolveEndpoints(config, input.interfaces, input.overrides);
  const sets = new PeerSets(config, inventory, input.setsMemo);
  const policies = effectivePolicies(config.policies, config.metrics.listen?.port).filter((p) =>
    appliesToNode(p, config.node.roles),
  );
  const families = ([4, 6] as Family[]).map((f) => watched(compileFamily(f, config, endpoints, policies, sets)));
  const watch = families.map(
    (f): AddressSet => ({
      name: watchSetName(f.family),
      family: f.family,
      type: 'hash:ip',
      members: [],
      describes: 'nothing (always empty: the drift check counts its references)',
    }),
  );
  sets.remember();
  return {
    node: { name: config.node.name, roles: [...config.node.roles] },
    mode: config.mode,
    endpoints,
    unresolved,
    sets: [...sets.all(), ...watch].sort((a, b) => (a.name < b.name ? -1 : 1)),
    families,
    policies: policies.map((p) => p.name),
  };
}

/**
 * Every jump, and the last rule of every chain, also match "not in the watch
 * set" (always true: it is empty), so that the set's reference count in the
 * kernel drops when a jump is deleted or a chain flushed (ruleset.ts, watchSetName).
 */
function watched(fr: FamilyRuleset): FamilyRuleset {
  const notSrcSet = watchSetName(fr.family);
  return {
    ...fr,
    jumps: fr.jumps.map((j) => ({ ...j, match: { ...j.match, notSrcSet } })),
    chains: fr.chains.map((c) =>
      c.rules.length === 0
        ? c
        : { ...c, rules: c.rules.map((r, i) => (i === c.rules.length - 1 ? { ...r, match: { ...r.match, notSrcSet } } : r)) },
    ),
  };
}

function appliesToNode(p: Policy, roles: Role[]): boolean {
  return !p.appliesTo.roles || p.appliesTo.roles.some((r) => roles.includes(r));
}

function rejectMode(config: Config): boolean {
  return config.mode === 'enforce' && config.denyAction === 'reject';
}

function compileFamily(family: Family, config: Config, endpoints: Endpoint[], policies: Policy[], sets: PeerSets): FamilyRuleset {
  const chains: Chain[] = [];
  // Packets of established and related connections never enter our chains: the
  // jump itself is the one rule they meet (they were judged when their
  // connection started; INVALID ones still enter, and are dropped there).
  const newOnly: Match = { ctstateNot: ['RELATED', 'ESTABLISHED'] };
  const jumps: Jump[] = [
    {
      table: 'mangle',
      builtin: 'PREROUTING',
      chain: 'AFW-PREROUTING',
      match: newOnly,
      comment: 'artesca-fw: ingress policy, new packets',
    },
    {
      table: 'filter',
      builtin: 'OUTPUT',
      chain: 'AFW-OUTPUT',
      match: newOnly,
      comment: 'artesca-fw: egress policy, new packets',
    },
  ];
  const prerouting: Chain = { name: 'AFW-PREROUTING', table: 'mangle', rules: [] };
  const output: Chain = { name: 'AFW-OUTPUT', table: 'filter', rules: [] };
  chains.push(prerouting, output);

  if (rejectMode(config)) {
    // A packet may arrive with our mark bit already set by someone else: clear it
    // so that only our own deny decision makes filter INPUT / FORWARD reject.
    prerouting.rules.push({
      match: {},
      verdict: { kind: 'mark', mark: 0 },
      comment: 'reject mode: clear the reject mark',
      origin: { kind: 'reject-mark' },
    });
    const markMatch: Match = { mark: REJECT_MARK };
    const rejectChain: Chain = {
      name: 'AFW-REJECT',
      table: 'filter',
      // ICMP "administratively prohibited" for every protocol, TCP included: a
      // TCP reset would look like a closed port, and `verify` could not tell a
      // port the firewall refuses from one nobody listens on.
      rules: [
        {
          match: {},
          verdict: { kind: 'reject' },
          comment: 'reject: administratively prohibited',
          origin: { kind: 'reject-mark' },
        },
      ],
    };
    for (const [builtin, name] of [
      ['INPUT', 'AFW-INPUT'],
      ['FORWARD', 'AFW-FORWARD'],
    ] as const) {
      chains.push({
        name,
        table: 'filter',
        rules: [
          {
            match: markMatch,
            verdict: { kind: 'goto', chain: 'AFW-REJECT' },
            comment: 'denied at ingress: reject',
            origin: { kind: 'reject-mark' },
          },
        ],
      });
      // Only a packet our own deny decision marked: new (an established one skipped that decision, and a mark
      // bit someone else set on it must not make us reject it) and marked.
      jumps.push({
        table: 'filter',
        builtin,
        chain: name,
        match: { ...newOnly, mark: REJECT_MARK },
        comment: 'artesca-fw: reject denied ingress, new packets',
      });
    }
    chains.push(rejectChain);
  }

  // Established and related traffic is accepted once, before anything else is
  // looked at (no address-type lookup, no endpoint chain): it was judged when
  // its connection started. Policy applies to new connections.
  for (const chain of [prerouting, output]) {
    chain.rules.push({
      match: { ctstate: ['RELATED', 'ESTABLISHED'] },
      verdict: { kind: 'pass' },
      comment: 'base: established, related',
      origin: { kind: 'base', what: 'established, related' },
    });
  }

  for (const ep of endpoints) {
    const names = chainNames(ep.id);
    const dstTypes: ('LOCAL' | 'BROADCAST' | 'MULTICAST')[] =
      family === 4 ? ['LOCAL', 'BROADCAST', 'MULTICAST'] : ['LOCAL', 'MULTICAST'];
    for (const dstType of dstTypes) {
      prerouting.rules.push({
        match: { inIface: ep.interface, dstType },
        verdict: { kind: 'goto', chain: names.in },
        comment: `${ep.planes.join('+')} ${ep.interface}: to a ${dstType.toLowerCase()} address`,
        origin: { kind: 'dispatch', endpoint: ep.id },
      });
    }
    output.rules.push({
      match: { outIface: ep.interface },
      verdict: { kind: 'goto', chain: names.out },
      comment: `${ep.planes.join('+')} ${ep.interface}: sent by this host`,
      origin: { kind: 'dispatch', endpoint: ep.id },
    });
    chains.push(
      endpointChain(family, config, ep, 'ingress', policies, sets),
      denyChain(family, config, ep, 'ingress'),
      endpointChain(family, config, ep, 'egress', policies, sets),
      denyChain(family, config, ep, 'egress'),
    );
  }
  return { family, chains, jumps };
}

function denyChain(family: Family, config: Config, ep: Endpoint, direction: Direction): Chain {
  const names = chainNames(ep.id);
  const dir = direction === 'ingress' ? 'IN' : 'OUT';
  const name = direction === 'ingress' ? names.inDeny : names.outDeny;
  const origin = { kind: 'deny', endpoint: ep.id, direction } as const;
  const rules: Rule[] = [];
  if (config.mode === 'audit') {
    rules.push({
      match: { limit: LOG_LIMIT },
      verdict: { kind: 'log', prefix: logPrefix(`afw:${ep.id}-${dir}:audit`) },
      comment: `audit: would deny on ${ep.interface} (IPv${family})`,
      origin,
    });
    return { name, table: direction === 'ingress' ? 'mangle' : 'filter', rules };
  }
  if (config.logDrops) {
    rules.push({
      match: { limit: LOG_LIMIT },
      verdict: { kind: 'log', prefix: logPrefix(`afw:${ep.id}-${dir}:deny`) },
      comment: `log denied on ${ep.interface}`,
      origin,
    });
  }
  let verdict: Verdict;
  if (config.denyAction === 'drop') verdict = { kind: 'drop' };
  else if (direction === 'ingress') verdict = { kind: 'mark', mark: REJECT_MARK };
  else verdict = { kind: 'goto', chain: 'AFW-REJECT' };
  rules.push({ match: {}, verdict, comment: `${config.denyAction} on ${ep.interface}`, origin });
  return { name, table: direction === 'ingress' ? 'mangle' : 'filter', rules };
}

function endpointChain(
  family: Family,
  config: Config,
  ep: Endpoint,
  direction: Direction,
  policies: Policy[],
  sets: PeerSets,
): Chain {
  const names = chainNames(ep.id);
  const name = direction === 'ingress' ? names.in : names.out;
  const deny: Verdict = { kind: 'goto', chain: direction === 'ingress' ? names.inDeny : names.outDeny };
  const pass: Verdict = { kind: 'pass' };
  const rules: Rule[] = [];
  const base = (what: string, match: Match, verdict: Verdict = pass) =>
    rules.push({ match, verdict, comment: `base: ${what}`, origin: { kind: 'base', what } });
  // With the record of denied flows on, each deny decision is preceded by an
  // NFLOG rule with the same match: the kernel says which rule refused what.
  // INVALID packets are left out: they are not a policy's decision (stray
  // packets of connections conntrack forgot), and would keep the record from
  // ever being clean.
  const denyRule = (rule: Rule) => {
    if (config.denied.record) {
      const perSecond = config.denied.packetsPerSecond;
      rules.push({
        match: { ...rule.match, limit: { rate: `${perSecond}/second`, burst: perSecond } },
        verdict: { kind: 'nflog', group: config.denied.nflogGroup, prefix: recordPrefix(name, rule.comment), size: NFLOG_SIZE },
        comment: `record: ${rule.comment}`.slice(0, 200),
        origin: { kind: 'record', endpoint: ep.id, direction, rule: rule.comment },
      });
    }
    rules.push(rule);
  };
  const peerKey = direction === 'ingress' ? 'srcSet' : 'dstSet';
  const netKey = direction === 'ingress' ? 'srcNet' : 'dstNet';

  if (family === 6) {
    for (const [type, what] of ICMP6_LINK) base(`icmpv6 ${what}`, { protocol: PROTO.icmpv6, icmpType: type });
  }
  base('invalid', { ctstate: ['INVALID'] }, deny);

  const failsafe = direction === 'ingress' ? config.failsafe.inbound : config.failsafe.outbound;
  for (const entry of failsafe) {
    if (entry.cidr && (entry.cidr.includes(':') ? 6 : 4) !== family) continue;
    const match: Match = { protocol: PROTO[entry.protocol], dports: [entry.ports] };
    if (entry.cidr && !entry.cidr.endsWith('/0')) match[netKey] = entry.cidr;
    rules.push({
      match,
      verdict: pass,
      comment: `failsafe: ${entry.text}`,
      origin: { kind: 'failsafe', entry: entry.text, direction },
    });
  }

  if (family === 4) {
    const wpAll = sets.plane('workloadPlane', undefined, 4);
    base(`ipip ${direction === 'ingress' ? 'from' : 'to'} workloadPlane`, { protocol: PROTO.ipip, [peerKey]: wpAll });
  }

  if (config.icmp === 'all') {
    base('icmp (all types)', { protocol: family === 4 ? PROTO.icmp : PROTO.icmpv6 });
  } else if (config.icmp === 'essential') {
    for (const [type, what] of family === 4 ? ICMP4_ESSENTIAL : ICMP6_ESSENTIAL) {
      base(`icmp ${what}`, { protocol: family === 4 ? PROTO.icmp : PROTO.icmpv6, icmpType: type });
    }
  }

  for (const policy of policies) {
    if (!ep.planes.includes(policy.appliesTo.plane)) continue;
    if (!(ep.families[policy.appliesTo.plane] ?? []).includes(family)) continue;
    policy[direction].forEach((rule, index) => {
      if (rule.protocol && !rule.protocol.families.includes(family)) return;
      const match: Match = {};
      if (rule.protocol) match.protocol = rule.protocol.number;
      if (rule.peer?.kind === 'plane') {
        match[peerKey] = sets.plane(rule.peer.plane, rule.peer.roles, family);
      } else if (rule.peer?.kind === 'cidrs') {
        const set = sets.net(rule.peer.cidrs, family);
        if (set === 'none') return; // no CIDR of this family: the rule cannot match here
        if (set !== 'any') match[peerKey] = set;
      }
      const verdict: Verdict =
        rule.action === 'allow' ? pass : rule.action === 'deny' ? deny : { kind: 'log', prefix: logPrefix(`afw:${policy.name}`) };
      if (rule.action === 'log') match.limit = LOG_LIMIT;
      const comment = `${policy.name}: ${rule.comment ?? describeRule(rule, direction)}`;
      const origin = { kind: 'policy', policy: policy.name, direction, rule: index, action: rule.action } as const;
      for (const chunk of portChunks(rule.ports)) {
        const compiled: Rule = { match: chunk ? { ...match, dports: chunk } : { ...match }, verdict, comment, origin };
        if (rule.action === 'deny') denyRule(compiled);
        else rules.push(compiled);
      }
    });
  }

  denyRule({
    match: {},
    verdict: deny,
    comment: `default deny: ${ep.planes.join('+')} ${direction}`,
    origin: { kind: 'default-deny', endpoint: ep.id, direction },
  });
  return { name, table: direction === 'ingress' ? 'mangle' : 'filter', rules };
}

/** Splits a port list into groups that fit one multiport match. */
export function portChunks(ports: PortRange[] | undefined): (PortRange[] | undefined)[] {
  if (!ports || ports.length === 0) return [undefined];
  const chunks: PortRange[][] = [];
  let cur: PortRange[] = [];
  let used = 0;
  for (const p of ports) {
    const cost = p.from === p.to ? 1 : 2;
    if (used + cost > MULTIPORT_SLOTS) {
      chunks.push(cur);
      cur = [];
      used = 0;
    }
    cur.push(p);
    used += cost;
  }
  chunks.push(cur);
  return chunks;
}

function describeRule(rule: PolicyRule, direction: Direction): string {
  const parts: string[] = [rule.action, direction, rule.protocol?.name ?? 'all protocols'];
  if (rule.ports) parts.push(rule.ports.map((p) => (p.from === p.to ? `${p.from}` : `${p.from}-${p.to}`)).join(','));
  const peer = rule.peer;
  const word = direction === 'ingress' ? 'from' : 'to';
  if (!peer) parts.push(`${word} any`);
  else if (peer.kind === 'plane') parts.push(`${word} ${peer.plane}${peer.roles ? `[${peer.roles.join(',')}]` : ''}`);
  else parts.push(`${word} ${peer.cidrs.length} cidr(s)`);
  return parts.join(' ');
}
