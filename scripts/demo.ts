// `npm run demo`: the bundled example cluster (config/) in network namespaces.
// Builds one namespace per inventory node plus an outsider on both planes,
// loads artesca-fw on every node, probes every listed port from every other
// node and prints what happened next to what policies.md says, then removes
// everything. Nothing runs in the machine's own namespace.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { expectedAllowed, PROBES, type Role } from './lab/expectations.js';
import { buildCluster, kernelSkipReason, Lab, type Peer, ROOT } from './lab/netns.js';

interface InvNode {
  name: string;
  roles: Role[];
  controlPlaneIP: string;
  workloadPlaneIP: string;
}

async function main(): Promise<number> {
  const reason = kernelSkipReason();
  if (reason) {
    console.error(`demo: ${reason}`);
    return 1;
  }
  const configText = readFileSync(path.join(ROOT, 'config/config.yaml'), 'utf8');
  const inventoryText = readFileSync(path.join(ROOT, 'config/inventory.yaml'), 'utf8');
  const config = parse(configText);
  const nodes = parse(inventoryText).nodes as InvNode[];
  const cpPrefix = String(config.networks.controlPlane.cidr).split('/')[1];
  const wpPrefix = String(config.networks.workloadPlane.cidr).split('/')[1];
  const outsider = { name: 'outsider', cp: '10.100.0.250', wp: '10.200.0.250' };

  const lab = new Lab('demo');
  const work = path.join(os.tmpdir(), `${lab.id}`);
  const stop = async () => {
    await lab.cleanup();
  };
  process.on('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    console.log(`Building ${nodes.length} nodes and an outsider in network namespaces (${lab.id}-*)...`);
    const ns = await buildCluster(lab, [
      ...nodes.map((n, i) => ({
        name: n.name,
        cp: [
          `${n.controlPlaneIP}/${cpPrefix}`,
          ...(i === 0 ? (config.virtualIPs?.management ?? []).map((v: string) => `${v}/${cpPrefix}`) : []),
        ],
        wp: [
          `${n.workloadPlaneIP}/${wpPrefix}`,
          ...(i === 0 ? (config.virtualIPs?.data ?? []).map((v: string) => `${v}/${wpPrefix}`) : []),
        ],
      })),
      { name: outsider.name, cp: [`${outsider.cp}/${cpPrefix}`], wp: [`${outsider.wp}/${wpPrefix}`] },
    ]);
    mkdirSync(work, { recursive: true });
    writeFileSync(path.join(work, 'inventory.yaml'), inventoryText);

    const peers: Record<string, Peer> = {};
    for (const n of [...nodes.map((x) => x.name), outsider.name]) {
      peers[n] = lab.peer(ns[n]!);
      await peers[n].listen('tcp', ...new Set(PROBES.filter((p) => p.proto === 'tcp').map((p) => p.port)));
      await peers[n].listen('udp', ...new Set(PROBES.filter((p) => p.proto === 'udp').map((p) => p.port)));
    }

    for (const n of nodes) {
      const nodeConfig = {
        ...config,
        node: { name: n.name, roles: n.roles },
        inventory: { file: path.join(work, 'inventory.yaml') },
      };
      nodeConfig.stateDir = path.join(work, n.name, 'state');
      const file = path.join(work, `${n.name}.yaml`);
      writeFileSync(file, stringify(nodeConfig));
      const applied = await lab.cli(ns[n.name]!, ['apply', '--config', file]);
      if (applied.code !== 0) throw new Error(`apply on ${n.name} failed: ${applied.stderr}`);
      const check = await lab.cli(ns[n.name]!, ['check', '--config', file]);
      console.log(`\n== ${n.name}: ${applied.stdout.trim()}\n${check.stdout.trim()}`);
    }

    console.log('\nsource -> destination:port          expected   actual');
    let mismatches = 0;
    let total = 0;
    for (const dst of nodes) {
      for (const src of [...nodes.filter((n) => n !== dst), { name: outsider.name, roles: [] as Role[] }]) {
        const inInventory = src.name !== outsider.name;
        const results = await Promise.all(
          PROBES.map(async (p) => {
            const host = p.plane === 'cp' ? dst.controlPlaneIP : dst.workloadPlaneIP;
            const r = await peers[src.name]!.probe(host, p.port, { proto: p.proto, timeoutMs: 400 });
            return {
              p,
              host,
              actual: r.state === 'open',
              expected: expectedAllowed(p, dst.roles, { inInventory, roles: src.roles }),
            };
          }),
        );
        for (const r of results) {
          total++;
          const ok = r.actual === r.expected;
          if (!ok) mismatches++;
          const label = `${src.name} -> ${dst.name} ${r.p.proto}/${r.p.port} (${r.p.plane}, ${r.p.what})`;
          console.log(
            `${label.padEnd(52)} ${(r.expected ? 'allowed' : 'blocked').padEnd(9)} ${(r.actual ? 'allowed' : 'blocked').padEnd(9)}${ok ? '' : '  <-- MISMATCH'}`,
          );
        }
      }
    }
    console.log(
      `\n${total - mismatches} of ${total} probes as policies.md expects${mismatches ? `, ${mismatches} MISMATCHES` : ''}.`,
    );
    return mismatches === 0 ? 0 : 1;
  } finally {
    await stop();
    console.log('Removed every namespace the demo made.');
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`demo failed: ${(err as Error).message}`);
    process.exit(1);
  },
);
