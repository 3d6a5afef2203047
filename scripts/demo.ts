// `npm run demo`: the bundled example cluster (config/) in network namespaces.
// One namespace per inventory node plus an outsider on both planes that is not
// in the inventory; the real agent (`artesca-fw run`) in every node; the VIPs on
// node-1. Prints each node's status, then probes every port policies.md lists
// from every node and the outsider to every node and VIP, next to what
// policies.md says; then removes everything. Nothing runs in the machine's own
// namespace. Exit 1 on any mismatch.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { Cluster, type ClusterNode, type Role } from './lab/cluster.js';
import { formatRow, runMatrix, type Target } from './lab/matrix.js';
import { kernelTestsBlocked, ROOT } from './lab/netns.js';

async function main(): Promise<number> {
  const reason = kernelTestsBlocked();
  if (reason) {
    console.error(`demo: ${reason}`);
    return 1;
  }
  const config = parse(readFileSync(path.join(ROOT, 'config/config.yaml'), 'utf8'));
  const inv = parse(readFileSync(path.join(ROOT, 'config/inventory.yaml'), 'utf8')) as {
    nodes: { name: string; roles: Role[]; controlPlaneIP: string; workloadPlaneIP: string }[];
  };
  const nodes: ClusterNode[] = inv.nodes.map((n) => ({
    name: n.name,
    roles: n.roles,
    cp: n.controlPlaneIP,
    wp: n.workloadPlaneIP,
  }));
  const vips = { management: config.virtualIPs?.management ?? [], data: config.virtualIPs?.data ?? [] };
  console.log(`Starting ${nodes.length} nodes and an outsider in network namespaces, artesca-fw running in each node...`);
  const cluster = await Cluster.start({
    nodes,
    outsider: { cp: '10.100.0.250', wp: '10.200.0.250' },
    cpCidr: config.networks.controlPlane.cidr,
    wpCidr: config.networks.workloadPlane.cidr,
    vips,
    vipHolder: nodes[0]!.name,
    tag: 'demo',
  });
  const stop = () => cluster.stop();
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    for (const n of nodes) console.log(`\n$ artesca-fw status   # on ${n.name}\n${await cluster.statusText(n.name)}`);
    for (const n of nodes)
      await cluster.peers[n.name]!.listen(
        'tcp',
        22,
        80,
        179,
        443,
        2379,
        2380,
        2381,
        4505,
        4506,
        4507,
        6443,
        8080,
        8428,
        8443,
        9100,
        9999,
        10249,
        10250,
        10256,
        10257,
        10259,
      );
    for (const n of nodes) await cluster.peers[n.name]!.listen('udp', 123);
    const holder = nodes[0]!;
    const targets: Target[] = [
      ...nodes.map((n) => ({ label: n.name, node: n.name, roles: n.roles, cp: n.cp, wp: n.wp })),
      ...vips.management.map((v: string) => ({
        label: `VIP ${v} (${holder.name})`,
        node: holder.name,
        roles: holder.roles,
        cp: v,
      })),
      ...vips.data.map((v: string) => ({ label: `VIP ${v} (${holder.name})`, node: holder.name, roles: holder.roles, wp: v })),
    ];
    const sources = [
      ...nodes.map((n) => ({ name: n.name, roles: n.roles, inInventory: true })),
      { name: 'outsider', roles: [] as Role[], inInventory: false },
    ];
    const rows = await runMatrix(cluster, targets, sources);
    console.log(`\n${'source -> destination port address (service)'.padEnd(64)} expected  actual`);
    for (const r of rows) console.log(formatRow(r));
    const bad = rows.filter((r) => r.expected !== r.actual).length;
    const allowed = rows.filter((r) => r.actual).length;
    console.log(
      `\n${rows.length - bad} of ${rows.length} probes as policies.md expects (${allowed} allowed, ${rows.length - allowed} blocked)${bad ? `, ${bad} MISMATCHES` : ''}.`,
    );
    return bad === 0 ? 0 : 1;
  } finally {
    await stop();
    console.log('Stopped the agents and removed every namespace the demo made.');
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`demo failed: ${(err as Error).message}`);
    process.exit(1);
  },
);
