// `npm run bench:preview` (root): how long `artesca-fw preview` takes against
// 1,000 and 100,000 tracked flows. node-1 (audit mode, so every flow is
// tracked and let through) and an outsider in namespaces made here; the
// outsider sends one UDP datagram to each of N distinct ports of node-1, so
// node-1's conntrack table holds N real flows (unreplied UDP: 30 s each, so
// each round makes them anew). Measured: the whole command from process start
// (5 runs, median), and `conntrack -L` of both families alone, the floor it
// stands on. Rewrites the section of BENCHMARKS.md between its markers.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { median } from './bench/fixtures.js';
import { runMain, writeTableSection } from './bench/report.js';
import { buildCluster, kernelTestsBlocked, Lab } from './lab/netns.js';

const START = '<!-- bench-preview: written by npm run bench:preview -->';
const END = '<!-- /bench-preview -->';
const RUNS = 5;
const SIZES = [1000, 100_000];

const CONFIG = `apiVersion: artesca-fw/v1
node: { name: node-1, roles: [bootstrap, master, etcd, infra, registry] }
networks: { controlPlane: { cidr: 10.100.0.0/24 }, workloadPlane: { cidr: 10.200.0.0/24 } }
inventory: { file: inventory.yaml }
stateDir: state
mode: audit
`;
const INVENTORY = `apiVersion: artesca-fw/v1
nodes:
  - { name: node-1, roles: [bootstrap, master, etcd, infra, registry], controlPlaneIP: 10.100.0.1, workloadPlaneIP: 10.200.0.1 }
  - { name: node-2, roles: [master, etcd, infra], controlPlaneIP: 10.100.0.2, workloadPlaneIP: 10.200.0.2 }
`;

/** N datagrams from the outsider to N distinct (source port, destination port) pairs of node-1. */
const FLOOD = `
import socket, sys
n = int(sys.argv[1])
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range((n + 59999) // 60000)]
for i in range(n):
    socks[i // 60000].sendto(b"x", ("10.100.0.1", 1024 + i % 60000))
`;

async function timedMs(
  lab: Lab,
  ns: string,
  cmd: string,
  args: string[],
): Promise<{ ms: number; stdout: string; code: number | null }> {
  const t = performance.now();
  const r = await lab.exec(ns, cmd, args);
  return { ms: performance.now() - t, stdout: r.stdout, code: r.code };
}

async function main(): Promise<number> {
  const blocked = kernelTestsBlocked();
  if (blocked) throw new Error(blocked);
  const lab = new Lab('bp');
  const rows: string[] = [];
  try {
    const ns = await buildCluster(lab, [
      { name: 'node-1', cp: ['10.100.0.1/24'], wp: ['10.200.0.1/24'] },
      { name: 'outsider', cp: ['10.100.0.50/24'], wp: [] },
    ]);
    const n1 = ns['node-1']!;
    const dir = (await lab.must(n1, 'mktemp', ['-d'])).trim();
    const config = path.join(dir, 'config.yaml');
    writeFileSync(config, CONFIG);
    writeFileSync(path.join(dir, 'inventory.yaml'), INVENTORY);
    const applied = await lab.cli(n1, ['apply', '--config', config]);
    if (applied.code !== 0) throw new Error(`apply failed: ${applied.stderr}`);
    for (const n of SIZES) {
      const preview: number[] = [];
      const list: number[] = [];
      let checked = 0;
      let cuts = 0;
      for (let r = 0; r < RUNS; r++) {
        await lab.must(n1, 'conntrack', ['-F']);
        await lab.must(ns.outsider!, 'python3', ['-c', FLOOD, String(n)]);
        const count = Number((await lab.must(n1, 'conntrack', ['-C'])).trim());
        if (count < n) throw new Error(`only ${count} of ${n} flows tracked`);
        const l4 = await timedMs(lab, n1, 'conntrack', ['-L', '-f', 'ipv4']);
        const l6 = await timedMs(lab, n1, 'conntrack', ['-L', '-f', 'ipv6']);
        list.push(l4.ms + l6.ms);
        const t = performance.now();
        const p = await lab.cli(n1, ['preview', '--config', config, '--json']);
        const ms = performance.now() - t;
        if (p.code !== 1) throw new Error(`preview exited ${p.code}, expected 1 (the outsider's flows are refused)`);
        const out = JSON.parse(p.stdout) as { checked: number; cuts: unknown[] };
        checked = out.checked;
        cuts = out.cuts.length;
        preview.push(ms);
      }
      rows.push(
        `| ${n.toLocaleString('en-US')} | ${checked.toLocaleString('en-US')} | ${cuts.toLocaleString('en-US')} | ${Math.round(median(preview))} ms | ${Math.round(median(list))} ms |`,
      );
      console.log(rows.at(-1));
    }
  } finally {
    await lab.cleanup();
  }
  writeTableSection(
    { start: START, end: END },
    '## 11. Preview',
    `\`npm run bench:preview\` (\`scripts/bench-preview.ts\`), ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${RUNS} runs of each size (median). node-1 in audit mode holds N real flows in its conntrack table: the outsider sent N UDP datagrams to distinct (source port, destination port) pairs, over at most 60,000 destination ports: up to 60,000 refused keys, each flow judged on its own. \`preview\` is timed as an operator runs it, from process start to exit (compiling the config, reading both families' tables and the peer sets, judging every flow); \`conntrack -L\` of both families alone is the floor it stands on.`,
    ['tracked flows', 'checked', 'refused keys', '`preview`, process start to exit', '`conntrack -L` (both families)'],
    rows,
  );
  return 0;
}

runMain(main);
