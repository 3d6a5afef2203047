// An evaluator of Calico's policy for host endpoints, for new packets, written
// from Calico's documentation and kept apart from the importer (src/import/):
// the proof that an import means what the GlobalNetworkPolicies meant.
//
// What it follows (docs.tigera.io, "Host endpoints", "Global network policy",
// "Configure failsafe rules"):
// - Failsafe rules come first: inbound, a packet to one of the failsafe
//   (protocol, port), from the entry's net if it has one, is allowed;
//   outbound likewise to the remote (protocol, port, net).
// - The policies that apply to a host endpoint in a direction are those whose
//   selector matches the endpoint's labels and whose types hold that
//   direction (types left out: Ingress, plus Egress when there are egress
//   rules). They are evaluated by order (left out: after every ordered one),
//   then by name.
// - Within a policy, rules in order: the first that matches decides (Allow,
//   Deny); a policy none of whose rules match passes the packet to the next.
// - A host endpoint allows only what a policy allows: the rest is denied.
// - A rule's selector on the peer side matches packets from (ingress) or to
//   (egress) an address of an endpoint the selector matches (a host
//   endpoint's expected IPs); nets match the peer's address; ports are the
//   destination port (both directions).
import { inCidr, parseAddress, parseCidr } from '../../src/config/addresses.js';
import { parseSelector, selects } from '../../src/import/selector.js';

export interface CalicoObjects {
  policies: { name: string; spec: Record<string, unknown> }[];
  endpoints: { name: string; labels: Record<string, string>; ips: string[] }[];
  /** undefined: Felix's defaults. */
  failsafe?: { inbound: FailsafePort[]; outbound: FailsafePort[] };
}
interface FailsafePort {
  protocol: string;
  port: number;
  net?: string;
}

/** Felix's default failsafe ports, as its documentation lists them: BGP, etcd, Typha, the API server and kube-proxy's, both ways. */
const FELIX_BOTH_WAYS = [179, 2379, 2380, 5473, 6443, 6666, 6667].map((port) => ({ protocol: 'tcp', port }));
const FELIX_DEFAULT_FAILSAFE: { inbound: FailsafePort[]; outbound: FailsafePort[] } = {
  inbound: [{ protocol: 'tcp', port: 22 }, { protocol: 'udp', port: 68 }, ...FELIX_BOTH_WAYS],
  outbound: [{ protocol: 'udp', port: 53 }, { protocol: 'udp', port: 67 }, ...FELIX_BOTH_WAYS],
};

const PROTO_NUMBER: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, sctp: 132, udplite: 136 };

export interface CalicoPacket {
  direction: 'ingress' | 'egress';
  /** The host endpoint the packet arrives on or leaves by. */
  endpoint: string;
  peer: string;
  protocol: number;
  port?: number;
}

function protoNumber(p: unknown): number {
  return typeof p === 'number' ? p : (PROTO_NUMBER[String(p).toLowerCase()] ?? Number.NaN);
}

function inNets(ip: string, nets: unknown): boolean {
  const a = parseAddress(ip);
  return (
    !!a &&
    (nets as string[]).some((n) => {
      const c = parseCidr(n).cidr;
      return !!c && inCidr(a.text, c);
    })
  );
}

function portMatches(ports: unknown, port: number | undefined): boolean {
  if (ports === undefined) return true;
  if (port === undefined) return false;
  return (ports as (number | string)[]).some((p) => {
    const [lo, hi] = String(p).split(':').map(Number);
    return port >= lo! && port <= (hi ?? lo!);
  });
}

export function calicoVerdict(o: CalicoObjects, pkt: CalicoPacket): 'allow' | 'deny' {
  const ep = o.endpoints.find((e) => e.name === pkt.endpoint);
  if (!ep) throw new Error(`no host endpoint ${pkt.endpoint}`);
  const failsafe = o.failsafe ?? FELIX_DEFAULT_FAILSAFE;
  for (const f of pkt.direction === 'ingress' ? failsafe.inbound : failsafe.outbound) {
    if (protoNumber(f.protocol) === pkt.protocol && f.port === pkt.port && (!f.net || inNets(pkt.peer, [f.net]))) return 'allow';
  }
  const type = pkt.direction === 'ingress' ? 'Ingress' : 'Egress';
  const applying = o.policies
    .filter((p) => {
      const rules = (p.spec.egress as unknown[] | undefined) ?? [];
      const types = (p.spec.types as string[] | undefined) ?? ['Ingress', ...(rules.length ? ['Egress'] : [])];
      return types.includes(type) && selects(parseSelector(String(p.spec.selector ?? '')), ep.labels);
    })
    .sort((a, b) => {
      const oa = (a.spec.order as number | undefined) ?? Number.POSITIVE_INFINITY;
      const ob = (b.spec.order as number | undefined) ?? Number.POSITIVE_INFINITY;
      return oa - ob || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    });
  const peerLabels = o.endpoints.filter((e) => e.ips.includes(pkt.peer)).map((e) => e.labels);
  for (const p of applying) {
    for (const rule of ((pkt.direction === 'ingress' ? p.spec.ingress : p.spec.egress) as Record<string, unknown>[]) ?? []) {
      if (rule.protocol !== undefined && protoNumber(rule.protocol) !== pkt.protocol) continue;
      const peerSide = (pkt.direction === 'ingress' ? rule.source : rule.destination) as Record<string, unknown> | undefined;
      const dst = rule.destination as Record<string, unknown> | undefined;
      if (!portMatches(dst?.ports, pkt.port)) continue;
      if (peerSide?.nets !== undefined && !inNets(pkt.peer, peerSide.nets)) continue;
      if (peerSide?.selector !== undefined) {
        const s = parseSelector(String(peerSide.selector));
        if (!peerLabels.some((l) => selects(s, l))) continue;
      }
      return rule.action === 'Allow' ? 'allow' : 'deny';
    }
  }
  return 'deny';
}
