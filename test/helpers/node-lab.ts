// A small cluster for dataplane tests: node-1 is the firewalled host (all
// roles), node-2 a master/etcd/infra peer, node-3 a plain peer, an outsider on
// both planes that is not in the inventory, and a "pod" namespace behind
// node-1 that hostPort-style DNAT forwards to.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildCluster, Lab, type Peer } from '../../scripts/lab/netns.js';
import { BASE_CONFIG, BASE_INVENTORY, tempDir } from './fixtures.js';

export const FOREIGN_V4 = `*mangle
:KUBE-IPTABLES-HINT - [0:0]
:cali-PREROUTING - [0:0]
-A PREROUTING -j cali-PREROUTING
-A cali-PREROUTING -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "cali:established" -j ACCEPT
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:DOCKER - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A PREROUTING -d 10.200.0.1/32 -p tcp -m tcp --dport 443 -m comment --comment "hostPort 443" -j DNAT --to-destination 10.244.0.2:8443
-A PREROUTING -d 10.200.0.1/32 -p tcp -m tcp --dport 9999 -m comment --comment "hostPort 9999" -j DNAT --to-destination 10.244.0.2:8443
-A OUTPUT -j DOCKER
-A DOCKER -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.17.0.2:8080
COMMIT
*filter
:KUBE-FIREWALL - [0:0]
:KUBE-SERVICES - [0:0]
:cali-INPUT - [0:0]
:DOCKER - [0:0]
-A INPUT -s 192.0.2.0/24 -p tcp -m tcp --dport 2222 -m comment --comment "operator rule before" -j ACCEPT
-A INPUT -j KUBE-FIREWALL
-A INPUT -j cali-INPUT
-A INPUT -p tcp -m tcp --dport 3333 -m comment --comment "operator rule after" -j ACCEPT
-A KUBE-FIREWALL -m mark --mark 0x8000/0x8000 -m comment --comment "kubernetes firewall for dropping marked packets" -j DROP
-A cali-INPUT -m comment --comment "cali:hep-forward" -j RETURN
-A FORWARD -j DOCKER
-A DOCKER -d 172.17.0.2/32 -p tcp -m tcp --dport 8080 -j ACCEPT
-A OUTPUT -j KUBE-SERVICES
COMMIT
`;

export const FOREIGN_V6 = `*filter
:cali-INPUT - [0:0]
-A INPUT -j cali-INPUT
-A INPUT -p tcp -m tcp --dport 2222 -m comment --comment "operator v6" -j ACCEPT
COMMIT
`;

export const FOREIGN_SETS = `create cali40all-hosts-net hash:net family inet hashsize 1024 maxelem 1048576
add cali40all-hosts-net 10.0.0.0/8
create KUBE-6-FOREIGN hash:ip family inet6 hashsize 1024 maxelem 65536
add KUBE-6-FOREIGN fd00::1
`;

export interface NodeLab {
  lab: Lab;
  ns: Record<string, string>;
  dir: string;
  configFile: string;
  stateDir: string;
  writeInventory(text: string): void;
  /** A probe peer in each namespace of the lab (node-1..3, outsider, pod), made on first use. */
  peers(): Record<'node-1' | 'node-2' | 'node-3' | 'outsider' | 'pod', Peer>;
  cleanup(): Promise<void>;
}

export async function buildNodeLab(opts: { config?: string; foreign?: boolean } = {}): Promise<NodeLab> {
  const lab = new Lab('d');
  const tmp = tempDir('afw-dp-');
  try {
    const ns = await buildCluster(lab, [
      { name: 'node-1', cp: ['10.100.0.1/24', '10.100.0.100/24'], wp: ['10.200.0.1/24'] },
      { name: 'node-2', cp: ['10.100.0.2/24'], wp: ['10.200.0.2/24'] },
      { name: 'node-3', cp: ['10.100.0.3/24'], wp: ['10.200.0.3/24'] },
      { name: 'outsider', cp: ['10.100.0.50/24'], wp: ['10.200.0.50/24'] },
    ]);
    // The pod behind node-1, reached through DNAT.
    ns.pod = await lab.ns('pod');
    await lab.veth(ns['node-1']!, 'pod0', ns.pod, 'eth0');
    await lab.addr(ns['node-1']!, 'pod0', '10.244.0.1/24');
    await lab.addr(ns.pod, 'eth0', '10.244.0.2/24');
    await lab.must(ns.pod, 'ip', ['route', 'add', 'default', 'via', '10.244.0.1']);
    await lab.must(ns['node-1']!, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    if (opts.foreign !== false) {
      await lab.must(ns['node-1']!, 'iptables-nft-restore', ['--noflush'], { input: FOREIGN_V4 });
      await lab.must(ns['node-1']!, 'ip6tables-nft-restore', ['--noflush'], { input: FOREIGN_V6 });
      await lab.must(ns['node-1']!, 'ipset', ['restore'], { input: FOREIGN_SETS });
    }
    const dir = tmp.dir;
    let peers: ReturnType<NodeLab['peers']> | undefined;
    const stateDir = path.join(dir, 'state');
    mkdirSync(stateDir);
    const configFile = path.join(dir, 'config.yaml');
    writeFileSync(configFile, opts.config ?? BASE_CONFIG);
    writeFileSync(path.join(dir, 'inventory.yaml'), BASE_INVENTORY);
    return {
      lab,
      ns,
      dir,
      configFile,
      stateDir,
      writeInventory: (text) => writeFileSync(path.join(dir, 'inventory.yaml'), text),
      peers() {
        peers ??= {
          'node-1': lab.peer(ns['node-1']!),
          'node-2': lab.peer(ns['node-2']!),
          'node-3': lab.peer(ns['node-3']!),
          outsider: lab.peer(ns.outsider!),
          pod: lab.peer(ns.pod!),
        };
        return peers;
      },
      cleanup: async () => {
        await lab.cleanup();
        tmp.cleanup();
      },
    };
  } catch (err) {
    await lab.cleanup();
    tmp.cleanup();
    throw err;
  }
}

/** Everything in the namespace's tables and sets that is not artesca-fw's, counters and timestamps aside. */
export async function foreignState(lab: Lab, ns: string): Promise<string> {
  const parts: string[] = [];
  for (const [cmd, args] of [
    ['iptables-nft-save', []],
    ['ip6tables-nft-save', []],
    ['iptables-legacy-save', []],
    ['ip6tables-legacy-save', []],
    ['ipset', ['save']],
  ] as const) {
    const out = await lab.must(ns, cmd, [...args]);
    parts.push(`## ${cmd}`);
    const kept = out
      .split('\n')
      .filter((line) => !(line.startsWith('#') || line.includes('AFW-') || /^(create|add) afw/.test(line)))
      .map((line) => line.replace(/ \[\d+:\d+\]$/, ''));
    parts.push(...dropEmptyTables(kept));
  }
  return parts.join('\n');
}

/** Our rules as live (chains and jumps), for before/after comparisons. */
export async function ourRules(lab: Lab, ns: string, backend: 'nft' | 'legacy' = 'nft'): Promise<string> {
  const lines: string[] = [];
  for (const cmd of [`iptables-${backend}-save`, `ip6tables-${backend}-save`]) {
    const out = await lab.must(ns, cmd, []);
    lines.push(
      ...out
        .split('\n')
        .filter((l) => l.includes('AFW-'))
        .map((l) => l.replace(/ \[\d+:\d+\]$/, '')),
    );
  }
  const sets = await lab.must(ns, 'ipset', ['save']);
  lines.push(
    ...sets
      .split('\n')
      .filter((l) => /^(create|add) afw/.test(l))
      // A swapped-in set is a new kernel set: its random hash seed (initval) and size differ, its content does not.
      .map((l) => l.replace(/ (hashsize \d+|bucketsize \d+|initval 0x[0-9a-f]+)/g, ''))
      .sort(),
  );
  return lines.join('\n');
}

const BUILTIN_ACCEPT = /^:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) ACCEPT$/;

/**
 * Drops table blocks that hold nothing but built-in chains with policy ACCEPT:
 * inserting a jump creates the table where it did not exist yet (and flush
 * leaves it), which changes no packet's fate.
 */
function dropEmptyTables(lines: string[]): string[] {
  const out: string[] = [];
  let block: string[] | undefined;
  for (const line of lines) {
    if (line.startsWith('*')) block = [line];
    else if (block && line === 'COMMIT') {
      block.push(line);
      const body = block.slice(1, -1);
      if (!body.every((l) => BUILTIN_ACCEPT.test(l))) out.push(...block);
      block = undefined;
    } else if (block) block.push(line);
    else out.push(line);
  }
  return out;
}
