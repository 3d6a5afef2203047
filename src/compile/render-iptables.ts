// Ruleset -> iptables-restore / ip6tables-restore input. Every rule carries a
// comment "<why> [afw:<hash>]": the why makes `iptables-save` read like the
// policy table; the hash (of the rule's own text) lets the dataplane compare
// what is live with what it wants by reading comments back, whatever way the
// backend chooses to print matches (the approach of Calico Felix).
import { createHash } from 'node:crypto';
import type { Family } from '../config/model.js';
import type { Chain, FamilyRuleset, Jump, Match, Rule, Table, Verdict } from './ruleset.js';
import { REJECT_MARK } from './ruleset.js';

export const TABLES: Table[] = ['mangle', 'filter'];
const HASH_RE = /\[afw:([0-9a-f]{12})\]/;

const PROTO_NAME: Record<number, string> = { 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'ipv6-icmp' };

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

function portText(p: { from: number; to: number }): string {
  return p.from === p.to ? String(p.from) : `${p.from}:${p.to}`;
}

function matchArgs(m: Match, family: Family): string[] {
  const a: string[] = [];
  if (m.inIface) a.push('-i', m.inIface);
  if (m.outIface) a.push('-o', m.outIface);
  if (m.srcNet) a.push('-s', m.srcNet);
  if (m.dstNet) a.push('-d', m.dstNet);
  if (m.protocol !== undefined) a.push('-p', PROTO_NAME[m.protocol] ?? String(m.protocol));
  if (m.dstType) a.push('-m', 'addrtype', '--dst-type', m.dstType);
  if (m.ctstate) a.push('-m', 'conntrack', '--ctstate', m.ctstate.join(','));
  if (m.ctstateNot) a.push('-m', 'conntrack', '!', '--ctstate', m.ctstateNot.join(','));
  if (m.srcSet) a.push('-m', 'set', '--match-set', m.srcSet, 'src');
  if (m.dstSet) a.push('-m', 'set', '--match-set', m.dstSet, 'dst');
  if (m.dports && m.dports.length > 0) {
    const name = PROTO_NAME[m.protocol ?? 0] ?? 'tcp';
    if (m.dports.length === 1) a.push('-m', name, '--dport', portText(m.dports[0]!));
    else a.push('-m', 'multiport', '--dports', m.dports.map(portText).join(','));
  }
  if (m.icmpType !== undefined) {
    if (family === 4) a.push('-m', 'icmp', '--icmp-type', String(m.icmpType));
    else a.push('-m', 'icmp6', '--icmpv6-type', String(m.icmpType));
  }
  if (m.mark !== undefined) a.push('-m', 'mark', '--mark', `${hex(m.mark)}/${hex(REJECT_MARK)}`);
  if (m.limit) a.push('-m', 'limit', '--limit', m.limit.rate, '--limit-burst', String(m.limit.burst));
  if (m.notSrcSet) a.push('-m', 'set', '!', '--match-set', m.notSrcSet, 'src');
  return a;
}

function verdictArgs(v: Verdict, family: Family): string[] {
  switch (v.kind) {
    case 'pass':
      return ['-j', 'RETURN'];
    case 'drop':
      return ['-j', 'DROP'];
    case 'reject':
      return ['-j', 'REJECT', '--reject-with', family === 4 ? 'icmp-admin-prohibited' : 'icmp6-adm-prohibited'];
    case 'goto':
      return ['-g', v.chain];
    case 'jump':
      return ['-j', v.chain];
    case 'log':
      return ['-j', 'LOG', '--log-prefix', v.prefix];
    case 'nflog':
      return ['-j', 'NFLOG', '--nflog-group', String(v.group), '--nflog-prefix', v.prefix, '--nflog-size', String(v.size)];
    case 'mark':
      return ['-j', 'MARK', '--set-xmark', `${hex(v.mark)}/${hex(REJECT_MARK)}`];
  }
}

/** Quotes a token for iptables-restore when it holds spaces. */
function quote(token: string): string {
  return /[\s"']/.test(token) || token === '' ? `"${token}"` : token;
}

export interface RenderedRule {
  /** Everything after `-A CHAIN ` in restore syntax. */
  spec: string;
  hash: string;
  rule: Rule;
}

export interface RenderedChain {
  name: string;
  table: Table;
  rules: RenderedRule[];
}

export function renderRule(rule: Rule, family: Family): RenderedRule {
  const match = matchArgs(rule.match, family);
  const verdict = verdictArgs(rule.verdict, family);
  const hash = createHash('sha256')
    .update(`${family}\0${[...match, ...verdict].join(' ')}\0${rule.comment}`)
    .digest('hex')
    .slice(0, 12);
  const comment = `${rule.comment.slice(0, 230)} [afw:${hash}]`;
  const spec = [...match, '-m', 'comment', '--comment', comment, ...verdict].map(quote).join(' ');
  return { spec, hash, rule };
}

export function renderChain(chain: Chain, family: Family): RenderedChain {
  return { name: chain.name, table: chain.table, rules: chain.rules.map((r) => renderRule(r, family)) };
}

/** The hash an `iptables-save` line carries in its comment, if it is one of ours. */
export function hashOfSavedLine(line: string): string | undefined {
  return HASH_RE.exec(line)?.[1];
}

export function jumpSpec(jump: Jump, family: Family): string {
  const match = matchArgs(jump.match, family);
  return `${match.length ? `${match.join(' ')} ` : ''}-m comment --comment ${quote(jump.comment)} -j ${jump.chain}`;
}

/**
 * The full restore input for one table of one family, as `plan` prints it and
 * as a fresh load would use it (`--noflush`: only our chains are declared, so
 * only they are flushed; the jumps are inserted at the top of built-in chains).
 */
export function renderTable(fr: FamilyRuleset, table: Table): string {
  const chains = fr.chains.filter((c) => c.table === table).map((c) => renderChain(c, fr.family));
  const lines = [`*${table}`];
  for (const c of chains) lines.push(`:${c.name} - [0:0]`);
  for (const c of chains) for (const r of c.rules) lines.push(`-A ${c.name} ${r.spec}`);
  for (const h of fr.jumps.filter((h) => h.table === table)) lines.push(`-I ${h.builtin} 1 ${jumpSpec(h, fr.family)}`);
  lines.push('COMMIT');
  return `${lines.join('\n')}\n`;
}

export function renderFamily(fr: FamilyRuleset): string {
  return TABLES.map((t) => renderTable(fr, t)).join('');
}
