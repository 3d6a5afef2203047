// `conntrack -L` output -> tracked flows (the original direction's tuple, as
// the first packet had it: before DNAT, so a flow to a hostPort keeps the
// node's address and port). Pure. A line is
//   PROTO PROTONUM TIMEOUT [STATE] src= dst= sport= dport= [FLAGS] src= dst= ... mark= use=
// where the first src= starts the original tuple and the second the reply.
import type { Family } from '../config/model.js';

export interface TrackedFlow {
  family: Family;
  /** The protocol's name as conntrack prints it (tcp, udp, icmp, icmpv6, gre, unknown...). */
  proto: string;
  protoNum: number;
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  icmpType?: number;
  /** TCP state (ESTABLISHED, TIME_WAIT...), when there is one. */
  state?: string;
}

export function parseConntrack(text: string, family: Family): TrackedFlow[] {
  const flows: TrackedFlow[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    const protoNum = Number(words[1]);
    if (words.length < 4 || !Number.isInteger(protoNum)) continue;
    const flow: Partial<TrackedFlow> & { family: Family; proto: string; protoNum: number } = {
      family,
      proto: words[0]!,
      protoNum,
    };
    let tuple = 0;
    for (const w of words.slice(3)) {
      const eq = w.indexOf('=');
      if (eq < 0) {
        if (tuple === 0 && /^[A-Z_]+$/.test(w)) flow.state = w;
        continue;
      }
      const key = w.slice(0, eq);
      const value = w.slice(eq + 1);
      if (key === 'src') tuple++;
      if (tuple !== 1) continue;
      if (key === 'src') flow.src = value;
      else if (key === 'dst') flow.dst = value;
      else if (key === 'sport') flow.sport = Number(value);
      else if (key === 'dport') flow.dport = Number(value);
      else if (key === 'type') flow.icmpType = Number(value);
    }
    if (flow.src && flow.dst) flows.push(flow as TrackedFlow);
  }
  return flows;
}
