// `npm run bench:verify` (root): how long `artesca-fw verify` takes.
// 1. The 4-node namespace cluster of the verify test (real agents, enforce,
//    denyAction drop): verify from node-1, process start to exit, median of
//    RUNS.
// 2. A simulated 100-node membership against one real peer: node-1 and one
//    peer namespace whose interfaces carry the plane addresses of 99 inventory
//    nodes (the peer's agent enforces the policy of the roles they share), so
//    that every probe meets a real firewall: refused ports time out, as on a
//    real cluster with denyAction drop. The goal: under 60 s with the defaults.
// Rewrites its section of BENCHMARKS.md.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { median } from './bench/fixtures.js';
import { runMain, writeTableSection } from './bench/report.js';
import { Cluster, FOUR_NODES } from './lab/cluster.js';
import { DaemonProc, until } from './lab/daemon.js';
import { buildCluster, kernelTestsBlocked, Lab } from './lab/netns.js';

const START = '<!-- bench-verify: written by npm run bench:verify -->';
const END = '<!-- /bench-verify -->';
const RUNS = 3;
const NODES = FOUR_NODES;
const PEERS = 99;

interface Timed {
  ms: number;
  probes: number;
  mismatches: number;
  notJudged: number;
}

async function timedVerify(lab: Lab, ns: string, config: string): Promise<Timed> {
  const t = performance.now();
  const r = await lab.cli(ns, ['verify', '--json', '--config', config]);
  const ms = performance.now() - t;
  const report = JSON.parse(r.stdout) as { probes: number; mismatches: unknown[]; notJudged: unknown[] };
  return { ms, probes: report.probes, mismatches: report.mismatches.length, notJudged: report.notJudged.length };
}

async function fourNodes(): Promise<string> {
  const c = await Cluster.start({ nodes: NODES, tag: 'bv' });
  try {
    const runs: Timed[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await timedVerify(c.lab, c.ns['node-1']!, c.configFiles['node-1']!));
    const last = runs.at(-1)!;
    return `| 4 nodes (real agents), from node-1 | ${last.probes} | ${last.mismatches} | ${last.notJudged} | ${(median(runs.map((r) => r.ms)) / 1000).toFixed(1)} s |`;
  } finally {
    await c.stop();
  }
}

async function hundredNodes(): Promise<string> {
  const lab = new Lab('bw');
  let d1: DaemonProc | null = null;
  let d2: DaemonProc | null = null;
  try {
    const addr = (plane: 'cp' | 'wp', i: number) => `10.${plane === 'cp' ? 100 : 200}.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    const ns = await buildCluster(lab, [
      { name: 'node-1', cp: [`${addr('cp', 0)}/16`], wp: [`${addr('wp', 0)}/16`] },
      {
        name: 'peer',
        cp: Array.from({ length: PEERS }, (_, i) => `${addr('cp', i + 1)}/16`),
        wp: Array.from({ length: PEERS }, (_, i) => `${addr('wp', i + 1)}/16`),
      },
    ]);
    const dir = (await lab.must(ns['node-1']!, 'mktemp', ['-d'])).trim();
    const nodes = [
      {
        name: 'node-1',
        roles: ['bootstrap', 'master', 'etcd', 'infra', 'registry'],
        controlPlaneIP: addr('cp', 0),
        workloadPlaneIP: addr('wp', 0),
      },
      // The peers share one role set: the one agent in the peer namespace enforces their common policy.
      ...Array.from({ length: PEERS }, (_, i) => ({
        name: `node-${i + 2}`,
        roles: ['etcd'],
        controlPlaneIP: addr('cp', i + 1),
        workloadPlaneIP: addr('wp', i + 1),
      })),
    ];
    writeFileSync(path.join(dir, 'inventory.yaml'), stringify({ apiVersion: 'artesca-fw/v1', nodes }));
    const config = (name: string, roles: string[]) =>
      stringify({
        apiVersion: 'artesca-fw/v1',
        node: { name, roles },
        networks: { controlPlane: { cidr: '10.100.0.0/16' }, workloadPlane: { cidr: '10.200.0.0/16' } },
        inventory: { file: path.join(dir, 'inventory.yaml') },
        stateDir: path.join(dir, `${name}-state`),
      });
    writeFileSync(path.join(dir, 'node-1.yaml'), config('node-1', nodes[0]!.roles));
    writeFileSync(path.join(dir, 'peer.yaml'), config('node-2', ['etcd']));
    d1 = new DaemonProc(ns['node-1']!, ['--config', path.join(dir, 'node-1.yaml')]);
    d2 = new DaemonProc(ns.peer!, ['--config', path.join(dir, 'peer.yaml')]);
    for (const [n, d] of [
      ['node-1', d1],
      ['peer', d2],
    ] as const) {
      await d.waitFor((l) => l.event === 'apply' && l.reason === 'startup', 30_000);
      await until(async () => (await lab.exec(ns[n]!, 'curl', ['-sf', 'http://127.0.0.1:9900/readyz'])).code === 0, 30_000, 100);
    }
    // 99 peers would each have their own ICMP rate limit towards node-1; the one namespace standing in for them gets none.
    await lab.must(ns.peer!, 'sysctl', ['-qw', 'net.ipv4.icmp_ratelimit=0', 'net.ipv6.icmp.ratelimit=0']);
    // Something listens on every port the peer allows, as the real services would.
    const listen = lab.peer(ns.peer!);
    await listen.listen('tcp', 22, 2379, 2380, 2381, 10250, 10256, 9100, 10249);
    const runs: Timed[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await timedVerify(lab, ns['node-1']!, path.join(dir, 'node-1.yaml')));
    const last = runs.at(-1)!;
    return `| ${PEERS + 1} nodes (one real peer answering for ${PEERS}), from node-1 | ${last.probes} | ${last.mismatches} | ${last.notJudged} | ${(median(runs.map((r) => r.ms)) / 1000).toFixed(1)} s |`;
  } finally {
    await d1?.kill('SIGTERM');
    await d2?.kill('SIGTERM');
    await lab.cleanup();
  }
}

async function main(): Promise<number> {
  const blocked = kernelTestsBlocked();
  if (blocked) throw new Error(blocked);
  const rows = [await fourNodes(), await hundredNodes()];
  for (const r of rows) console.log(r);
  writeTableSection(
    { start: START, end: END },
    '## 13. verify',
    `\`npm run bench:verify\` (\`scripts/bench-verify.ts\`), ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, defaults (256 probes in flight, 1 s each), denyAction drop, median of ${RUNS} runs, process start to exit. The 100-node membership: node-1 and one peer namespace carrying the plane addresses of the 99 other inventory nodes, whose agent enforces their common policy; every refused port costs the whole timeout, as on a real cluster with drop. UDP probes whose answer (ICMP port unreachable) was due and did not come are probed again a second apart, one per peer at a time (the kernel limits the ICMP errors a host sends to one destination); here the one namespace answering for 99 peers has that limit lifted (\`net.ipv4.icmp_ratelimit=0\` in its namespace), as 99 peers would each have their own. Goal: under 60 s.`,
    ['membership', 'probes', 'mismatches', 'not judged', 'verify'],
    rows,
  );
  return 0;
}

runMain(main);
