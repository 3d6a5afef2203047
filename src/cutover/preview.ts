// `artesca-fw preview`: which of the flows this host tracks now a ruleset
// would refuse. Each tracked flow's first packet (its original tuple: before
// DNAT, as the ingress policy judges it) is judged with explain, the same
// walk of the compiled ruleset, as if the ruleset were enforced: the point is
// to see what enforcing refuses, whatever the mode of the config. Pure.
import { explain, type PacketQuery } from '../compile/explain.js';
import type { Ruleset } from '../compile/ruleset.js';
import { parseAddress } from '../config/addresses.js';
import type { TrackedFlow } from './conntrack-list.js';

export interface Cut {
  direction: 'ingress' | 'egress';
  plane: string;
  /** The other end: the source of an ingress flow, the destination of an egress one. */
  peer: string;
  proto: string;
  /** Local port (ingress) or remote port (egress); absent for protocols without ports. */
  port?: number;
  /** Tracked entries of this key. */
  entries: number;
  /** What decides: the deny rule or default deny met first. */
  rule: string;
  /**
   * When the flows break: an established connection survives the switch
   * (conntrack accepts it) and breaks at its next connection; a peer leaving
   * one of the peer sets has its connections cut at once.
   */
  breaks: 'at its next connection' | 'at once (revoked peer: its connections are cut)';
}

export interface PreviewResult {
  ruleset: string;
  /** The tracked flows judged (those entering a plane interface for a local address, or leaving through one). */
  checked: number;
  cuts: Cut[];
}

const PORTED = new Set([6, 17, 132]);

function norm(address: string): string {
  return parseAddress(address)?.text ?? address;
}

export function previewFlows(
  rs: Ruleset,
  flows: readonly TrackedFlow[],
  opts: { hash: string; revoked: ReadonlySet<string> },
): PreviewResult {
  const enforced: Ruleset = { ...rs, mode: 'enforce' };
  const local = new Set(rs.endpoints.flatMap((e) => e.addresses.map(norm)));
  const revoked = new Set([...opts.revoked].map(norm));
  const cuts = new Map<string, Cut>();
  let checked = 0;
  for (const f of flows) {
    const src = norm(f.src);
    const dst = norm(f.dst);
    const direction = local.has(dst) && !local.has(src) ? 'ingress' : local.has(src) && !local.has(dst) ? 'egress' : null;
    if (!direction) continue; // local traffic, or routed through the host: not ours to judge
    const q: PacketQuery = {
      from: src,
      to: dst,
      protocol: f.protoNum,
      direction,
      ...(PORTED.has(f.protoNum) && f.dport !== undefined ? { port: f.dport } : {}),
      ...(f.icmpType !== undefined ? { icmpType: f.icmpType } : {}),
    };
    const e = explain(enforced, q);
    if (e.verdict === 'not policed') continue;
    checked++;
    if (e.verdict !== 'deny') continue;
    const peer = direction === 'ingress' ? src : dst;
    const plane = rs.endpoints.find((ep) => ep.id === e.endpoint)?.planes.join('+') ?? e.endpoint ?? '';
    const key = [direction, plane, peer, f.proto, q.port ?? ''].join('|');
    const cut = cuts.get(key);
    if (cut) cut.entries++;
    else {
      cuts.set(key, {
        direction,
        plane,
        peer,
        proto: f.proto,
        ...(q.port !== undefined ? { port: q.port } : {}),
        entries: 1,
        rule: e.reason,
        breaks: revoked.has(peer) ? 'at once (revoked peer: its connections are cut)' : 'at its next connection',
      });
    }
  }
  const order = (c: Cut) => [c.direction, c.plane, c.peer, c.proto, String(c.port ?? '').padStart(5, '0')].join('|');
  return { ruleset: opts.hash, checked, cuts: [...cuts.values()].sort((a, b) => (order(a) < order(b) ? -1 : 1)) };
}

export function formatPreview(r: PreviewResult): string {
  const head = `ruleset ${r.ruleset}, judged as enforced: ${r.checked} tracked flow(s) checked`;
  if (r.cuts.length === 0) return `${head}; none would be refused.`;
  const lines = [`${head}; ${r.cuts.length} would be refused:`];
  for (const c of r.cuts) {
    const what = `${c.proto}${c.port !== undefined ? `/${c.port}` : ''}`;
    lines.push(
      `  ${c.direction} ${c.plane} ${c.peer} ${what}: ${c.entries} entr${c.entries === 1 ? 'y' : 'ies'}, ${c.rule}; breaks ${c.breaks}`,
    );
  }
  return lines.join('\n');
}
