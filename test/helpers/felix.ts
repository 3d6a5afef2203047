// A neighbour shaped like Calico's Felix on a host with host endpoints
// (MetalK8s: DefaultEndpointToHostAction ACCEPT, failsafe ports, a policy that
// lets the cluster in): its chains in raw, mangle and filter of both families,
// its jumps first in the built-in chains, and a writer that keeps them where
// Felix keeps them: first (chainInsertMode Insert, Felix's default) or last
// (Append). Written for these tests after Felix's layout; the rule ids are ours.
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { Lab } from '../../scripts/lab/netns.js';

/** The jumps Felix keeps in the built-in chains: table, chain, rule id, target. */
export const FELIX_JUMPS = [
  ['raw', 'PREROUTING', 'cali:afwt-raw-pre', 'cali-PREROUTING'],
  ['raw', 'OUTPUT', 'cali:afwt-raw-out', 'cali-OUTPUT'],
  ['mangle', 'PREROUTING', 'cali:afwt-mangle-pre', 'cali-PREROUTING'],
  ['filter', 'INPUT', 'cali:afwt-filter-in', 'cali-INPUT'],
  ['filter', 'FORWARD', 'cali:afwt-filter-fwd', 'cali-FORWARD'],
  ['filter', 'OUTPUT', 'cali:afwt-filter-out', 'cali-OUTPUT'],
] as const;

const jump = (table: string) =>
  FELIX_JUMPS.filter((j) => j[0] === table).map(
    ([, chain, id, target]) => `-A ${chain} -m comment --comment "${id}" -j ${target}`,
  );

/** Felix's chains, for one family (`icmp` names the family's ICMP). */
function felixRules(icmp: 'icmp' | 'ipv6-icmp'): string {
  return [
    '*raw',
    ':cali-PREROUTING - [0:0]',
    ':cali-OUTPUT - [0:0]',
    ':cali-from-host-endpoint - [0:0]',
    ':cali-to-host-endpoint - [0:0]',
    ...jump('raw'),
    '-A cali-PREROUTING -m comment --comment "cali:afwt-r1" -j MARK --set-xmark 0x0/0xf0000',
    '-A cali-PREROUTING -i cali+ -m comment --comment "cali:afwt-r2" -j MARK --set-xmark 0x40000/0x40000',
    '-A cali-PREROUTING -m comment --comment "cali:afwt-r3" -m mark --mark 0x0/0x40000 -j cali-from-host-endpoint',
    '-A cali-PREROUTING -m comment --comment "cali:afwt-r4" -m mark --mark 0x10000/0x10000 -j ACCEPT',
    '-A cali-OUTPUT -m comment --comment "cali:afwt-r5" -j MARK --set-xmark 0x0/0xf0000',
    '-A cali-OUTPUT -m comment --comment "cali:afwt-r6" -j cali-to-host-endpoint',
    '-A cali-OUTPUT -m comment --comment "cali:afwt-r7" -m mark --mark 0x10000/0x10000 -j ACCEPT',
    'COMMIT',
    '*mangle',
    ':cali-PREROUTING - [0:0]',
    ':cali-from-host-endpoint - [0:0]',
    ...jump('mangle'),
    '-A cali-PREROUTING -m comment --comment "cali:afwt-m1" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    '-A cali-PREROUTING -m comment --comment "cali:afwt-m2" -m mark --mark 0x10000/0x10000 -j ACCEPT',
    '-A cali-PREROUTING -m comment --comment "cali:afwt-m3" -j cali-from-host-endpoint',
    '-A cali-PREROUTING -m comment --comment "cali:afwt-m4" -m comment --comment "Host endpoint policy accepted packet." -m mark --mark 0x10000/0x10000 -j ACCEPT',
    'COMMIT',
    '*filter',
    ':cali-INPUT - [0:0]',
    ':cali-OUTPUT - [0:0]',
    ':cali-FORWARD - [0:0]',
    ':cali-failsafe-in - [0:0]',
    ':cali-failsafe-out - [0:0]',
    ':cali-from-host-endpoint - [0:0]',
    ':cali-to-host-endpoint - [0:0]',
    ':cali-fh-cp0 - [0:0]',
    ':cali-th-cp0 - [0:0]',
    ':cali-pi-_afwt-cluster - [0:0]',
    ...jump('filter'),
    '-A cali-INPUT -m comment --comment "cali:afwt-f1" -m mark --mark 0x10000/0x10000 -j ACCEPT',
    '-A cali-INPUT -i cali+ -m comment --comment "cali:afwt-f2" -j DROP',
    '-A cali-INPUT -m comment --comment "cali:afwt-f3" -j MARK --set-xmark 0x0/0xf0000',
    '-A cali-INPUT -m comment --comment "cali:afwt-f4" -j cali-from-host-endpoint',
    '-A cali-INPUT -m comment --comment "cali:afwt-f5" -m comment --comment "Host endpoint policy accepted packet." -m mark --mark 0x10000/0x10000 -j ACCEPT',
    '-A cali-OUTPUT -m comment --comment "cali:afwt-f6" -m mark --mark 0x10000/0x10000 -j ACCEPT',
    '-A cali-OUTPUT -m comment --comment "cali:afwt-f7" -j MARK --set-xmark 0x0/0xf0000',
    '-A cali-OUTPUT -m comment --comment "cali:afwt-f8" -j cali-to-host-endpoint',
    '-A cali-OUTPUT -m comment --comment "cali:afwt-f9" -m comment --comment "Host endpoint policy accepted packet." -m mark --mark 0x10000/0x10000 -j ACCEPT',
    '-A cali-FORWARD -m comment --comment "cali:afwt-f10" -m mark --mark 0x10000/0x10000 -j ACCEPT',
    '-A cali-from-host-endpoint -i cp0 -m comment --comment "cali:afwt-f11" -g cali-fh-cp0',
    '-A cali-to-host-endpoint -o cp0 -m comment --comment "cali:afwt-f12" -g cali-th-cp0',
    '-A cali-fh-cp0 -m comment --comment "cali:afwt-f13" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    '-A cali-fh-cp0 -m comment --comment "cali:afwt-f14" -m conntrack --ctstate INVALID -j DROP',
    '-A cali-fh-cp0 -m comment --comment "cali:afwt-f15" -j cali-failsafe-in',
    '-A cali-fh-cp0 -m comment --comment "cali:afwt-f16" -m mark --mark 0x10000/0x10000 -j RETURN',
    '-A cali-fh-cp0 -m comment --comment "cali:afwt-f17" -j cali-pi-_afwt-cluster',
    '-A cali-fh-cp0 -m comment --comment "cali:afwt-f18" -m mark --mark 0x10000/0x10000 -j RETURN',
    '-A cali-fh-cp0 -m comment --comment "cali:afwt-f19" -m comment --comment "Drop if no policies passed packet" -j DROP',
    '-A cali-th-cp0 -m comment --comment "cali:afwt-f20" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    '-A cali-th-cp0 -m comment --comment "cali:afwt-f21" -j cali-failsafe-out',
    '-A cali-th-cp0 -m comment --comment "cali:afwt-f22" -j cali-pi-_afwt-cluster',
    '-A cali-th-cp0 -m comment --comment "cali:afwt-f23" -m mark --mark 0x10000/0x10000 -j RETURN',
    '-A cali-failsafe-in -p tcp -m comment --comment "cali:afwt-f24" -m multiport --dports 22,179,2379,2380,6443,6666,6667 -j ACCEPT',
    '-A cali-failsafe-in -p udp -m comment --comment "cali:afwt-f25" -m multiport --dports 68 -j ACCEPT',
    '-A cali-failsafe-out -p tcp -m comment --comment "cali:afwt-f26" -m multiport --dports 179,2379,2380,6443,6666,6667 -j ACCEPT',
    '-A cali-failsafe-out -p udp -m comment --comment "cali:afwt-f27" -m multiport --dports 53,67 -j ACCEPT',
    `-A cali-pi-_afwt-cluster -p ${icmp} -m comment --comment "cali:afwt-f28" -j MARK --set-xmark 0x10000/0x10000`,
    '-A cali-pi-_afwt-cluster -m comment --comment "cali:afwt-f29" -j MARK --set-xmark 0x10000/0x10000',
    'COMMIT',
    '',
  ].join('\n');
}

export const FELIX_V4 = felixRules('icmp');
export const FELIX_V6 = felixRules('ipv6-icmp');

/** Loads Felix's chains and jumps into a namespace, beside whatever is there (iptables-nft). */
export async function loadFelix(lab: Lab, ns: string): Promise<void> {
  await lab.must(ns, 'iptables-nft-restore', ['--noflush'], { input: FELIX_V4 });
  await lab.must(ns, 'ip6tables-nft-restore', ['--noflush'], { input: FELIX_V6 });
}

/** Felix's own rules as live: its chains' rules and its jumps, counters aside (what must stay byte-identical). */
export async function felixState(lab: Lab, ns: string): Promise<string> {
  const out: string[] = [];
  for (const cmd of ['iptables-nft-save', 'ip6tables-nft-save']) {
    const text = await lab.must(ns, cmd, []);
    let table = '';
    for (const line of text.split('\n')) {
      if (line.startsWith('*')) table = line;
      else if (/^:cali-|^-A cali-|cali:afwt-/.test(line)) out.push(`${cmd} ${table} ${line.replace(/ \[\d+:\d+\]$/, '')}`);
    }
  }
  // Its jumps in the built-in chains move (that is the point); compare them as a set.
  return out.sort().join('\n');
}

/**
 * A writer that behaves like Felix: every 200 ms it puts its jumps where its
 * chainInsertMode says: first ("insert": deleted by text and inserted at the
 * top whenever another rule stands above), or present and not first
 * ("append"). The mode is read from `modeFile` each round, so a test switches
 * it as an operator switches Felix's setting.
 */
export function startFelixWriter(
  lab: Lab,
  ns: string,
  modeFile: string,
  mode: 'insert' | 'append',
): ChildProcessWithoutNullStreams {
  writeFileSync(modeFile, mode);
  const ensure = FELIX_JUMPS.filter(([table]) => table !== 'raw')
    .flatMap(([table, chain, id, target]) =>
      ['iptables-nft', 'ip6tables-nft'].map((tool) => `ensure ${tool} ${table} ${chain} '${id}' ${target}`),
    )
    .join('\n  ');
  const script = `
ensure() {
  tool=$1; table=$2; chain=$3; id=$4; target=$5
  rules=$($tool -t $table -S $chain)
  first=$(printf '%s\\n' "$rules" | sed -n 2p)
  count=$(printf '%s\\n' "$rules" | wc -l)
  case "$(cat "$MODE_FILE")" in
    insert)
      case "$first" in *"$id"*) ;; *)
        $tool -t $table -D $chain -m comment --comment "$id" -j $target 2>/dev/null
        $tool -t $table -I $chain 1 -m comment --comment "$id" -j $target ;;
      esac ;;
    append)
      case "$rules" in *"$id"*) ;; *) $tool -t $table -A $chain -m comment --comment "$id" -j $target ;; esac
      case "$first" in *"$id"*)
        if [ "$count" -gt 2 ]; then
          $tool -t $table -D $chain -m comment --comment "$id" -j $target
          $tool -t $table -A $chain -m comment --comment "$id" -j $target
        fi ;;
      esac ;;
  esac
}
while :; do
  ${ensure}
  sleep 0.2
done
`;
  return lab.spawn(ns, 'env', [`MODE_FILE=${modeFile}`, 'bash', '-c', script]);
}
