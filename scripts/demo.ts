// `npm run demo`: the bundled example cluster (config/) in network namespaces.
// One namespace per inventory node plus an outsider on both planes that is not
// in the inventory; the real agent (`artesca-fw run`) in every node; the VIPs on
// node-1. Prints each node's status line; probes every port policies.md lists
// from every node and the outsider to every node and VIP against what
// policies.md says (an expectation written apart from the compiler: only its
// mismatches are listed); then `artesca-fw verify` from every node and from the
// outsider, as an operator runs it, with the matrices of node-1's and the
// outsider's runs. Then removes everything. Nothing runs in the machine's own
// namespace. Exit 1 on any mismatch.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { Cluster, type ClusterNode, type Role } from './lab/cluster.js';
import { formatRow, runMatrix, type Target } from './lab/matrix.js';
import { kernelTestsBlocked, ROOT } from './lab/netns.js';

/** Every TCP port policies.md names, and one it does not (9999): a listener on each, so that "reached" is a connection. */
const DEMO_TCP_PORTS = [
  22, 80, 179, 443, 2379, 2380, 2381, 4505, 4506, 4507, 6443, 8080, 8428, 8443, 9100, 9999, 10249, 10250, 10256, 10257, 10259,
];

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
    console.log('\n$ artesca-fw status   # on each node, its first line');
    for (const n of nodes) console.log(`  ${n.name}: ${(await cluster.statusText(n.name)).split('\n')[0]}`);
    for (const n of nodes.map((x) => x.name)) {
      await cluster.peers[n]!.listen('tcp', ...DEMO_TCP_PORTS);
      await cluster.peers[n]!.listen('udp', 123);
    }
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
    const bad = rows.filter((r) => r.expected !== r.actual);
    const allowed = rows.filter((r) => r.actual).length;
    console.log(
      `\npolicies.md, port by port: ${rows.length - bad.length} of ${rows.length} probes as the document says (${allowed} allowed, ${rows.length - allowed} blocked)${bad.length ? `, ${bad.length} MISMATCHES:` : '.'}`,
    );
    for (const r of bad) console.log(formatRow(r));

    let mismatches = bad.length;
    const runs = [...nodes.map((n) => n.name), 'outsider'];
    for (const from of runs) {
      const args =
        from === 'outsider'
          ? ['verify', '--outside', '--inventory', cluster.inventoryFile, '--config', cluster.configFiles[holder.name]!]
          : ['verify', '--config', cluster.configFiles[from]!];
      const r = await cluster.lab.cli(cluster.ns[from]!, args);
      if (r.code !== 0) mismatches++;
      const text = r.stdout.trim() || r.stderr.trim();
      if (from === holder.name || from === 'outsider' || r.code !== 0)
        console.log(`\n$ artesca-fw ${args.slice(0, -2).join(' ')}   # on ${from}\n${text}`);
      else console.log(`\n$ artesca-fw verify   # on ${from}\n${text.split('\n')[0]}`);
    }
    return mismatches === 0 ? 0 : 1;
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
