// The compiled ruleset: a plain value that says everything the dataplane must
// load, and why each rule is there. Rendering, explain and per-policy counters
// all read this one value.
import type { Family, Plane, PortRange } from '../config/model.js';

export type Table = 'mangle' | 'filter';
export type BuiltinChain = 'PREROUTING' | 'INPUT' | 'FORWARD' | 'OUTPUT';
export type Direction = 'ingress' | 'egress';

/** Every chain and set artesca-fw owns starts with these; nothing else is ever touched. */
export const CHAIN_PREFIX = 'AFW-';
export const SET_PREFIX = 'afw';
export const MAX_CHAIN_NAME = 28;
export const MAX_SET_NAME = 31;

/**
 * The watch set of a family: always empty, matched "not in it" (always true)
 * by every jump and by the last rule of every chain of ours. Its only use is
 * its reference count in the kernel (`ipset -t list`, "References"): someone
 * who deletes a jump or flushes a chain of ours lowers it, which the drift
 * watcher sees at its set check, with no table read (on iptables-legacy,
 * which has no change events, that is what keeps the idle cost down).
 */
export function watchSetName(family: 4 | 6): string {
  return `${SET_PREFIX}${family}-watch`;
}

/**
 * The packet mark that carries a "reject" verdict from mangle PREROUTING (where
 * REJECT is not allowed) to filter INPUT / FORWARD. Chosen outside the bits used
 * by kube-proxy (0x4000, 0x8000), Calico (0xffff0000) and Cilium (0x0f00).
 */
export const REJECT_MARK = 0x1000;

export interface Match {
  inIface?: string;
  outIface?: string;
  /** Address type of the destination (`-m addrtype --dst-type`). */
  dstType?: 'LOCAL' | 'BROADCAST' | 'MULTICAST';
  ctstate?: ('RELATED' | 'ESTABLISHED' | 'INVALID' | 'NEW')[];
  /** Every conntrack state but these (`-m conntrack ! --ctstate`). */
  ctstateNot?: ('RELATED' | 'ESTABLISHED' | 'INVALID' | 'NEW')[];
  /** IP protocol number. */
  protocol?: number;
  dports?: PortRange[];
  srcSet?: string;
  dstSet?: string;
  /** Source not in this set (`-m set ! --match-set NAME src`): with the always-empty watch set, always true. */
  notSrcSet?: string;
  srcNet?: string;
  dstNet?: string;
  icmpType?: number;
  mark?: number;
  /** Rate limit (for log rules): `-m limit --limit RATE --limit-burst BURST`. */
  limit?: { rate: string; burst: number };
}

export type Verdict =
  /** Allowed by artesca-fw: RETURN, so the host's other rules still apply. artesca-fw only ever removes packets. */
  | { kind: 'pass' }
  | { kind: 'drop' }
  | { kind: 'reject' }
  | { kind: 'goto'; chain: string }
  | { kind: 'jump'; chain: string }
  | { kind: 'log'; prefix: string }
  /** To the record of denied flows (src/denied/): the packet goes on. */
  | { kind: 'nflog'; group: number; prefix: string; size: number }
  | { kind: 'mark'; mark: number };

export type Origin =
  | { kind: 'policy'; policy: string; direction: Direction; rule: number; action: 'allow' | 'deny' | 'log' }
  | { kind: 'base'; what: string }
  | { kind: 'failsafe'; entry: string; direction: Direction }
  | { kind: 'dispatch'; endpoint: string }
  | { kind: 'default-deny'; endpoint: string; direction: Direction }
  | { kind: 'deny'; endpoint: string; direction: Direction }
  | { kind: 'reject-mark' }
  /** The NFLOG rule in front of a deny decision: `rule` is the deciding rule's comment. */
  | { kind: 'record'; endpoint: string; direction: Direction; rule: string };

export interface Rule {
  match: Match;
  verdict: Verdict;
  /** Human text for the iptables comment (the renderer appends the rule hash). */
  comment: string;
  origin: Origin;
}

export interface Chain {
  name: string;
  table: Table;
  rules: Rule[];
}

/** A jump from a built-in chain into one of ours, inserted at the top of the built-in chain. */
export interface Jump {
  table: Table;
  builtin: BuiltinChain;
  chain: string;
  /** What a packet must match to enter our chain at all (established and related packets never do). */
  match: Match;
  comment: string;
}

export interface FamilyRuleset {
  family: Family;
  chains: Chain[];
  jumps: Jump[];
}

export interface AddressSet {
  name: string;
  family: Family;
  type: 'hash:ip' | 'hash:net';
  members: string[];
  /** What the set stands for, e.g. `controlPlane [etcd]`. */
  describes: string;
}

export interface Endpoint {
  /** CP, WP, or CPWP when both planes share one interface. */
  id: string;
  planes: Plane[];
  interface: string;
  addresses: string[];
  /** Per plane, the address families that plane's policies are compiled for (IPv6 absent: default deny). */
  families: Record<string, Family[]>;
}

export interface UnresolvedPlane {
  plane: Plane;
  reason: string;
}

export interface Ruleset {
  node: { name: string; roles: string[] };
  mode: 'enforce' | 'audit';
  endpoints: Endpoint[];
  unresolved: UnresolvedPlane[];
  sets: AddressSet[];
  families: FamilyRuleset[];
  /** The policies that apply to this node, in evaluation order. */
  policies: string[];
}
