// `npm run bench:runtime` (root): what the daemon's runtime settings
// (MALLOC_MMAP_THRESHOLD_=16384 and --max-semi-space-size=1; in its unit since
// this measure, bin/artesca-fw's first line before) buy and cost, on the machine's Node (what a clone
// runs) and on the Node that ships. `plan` of a 3- and a 5,000-node inventory,
// process start to exit, median of RUNS interleaved runs per variant; the
// daemon with a 5,000-node inventory on the shipped Node, RSS (anonymous) 20 s
// after its first load, two runs per variant, interleaved.
// Rewrites its section of BENCHMARKS.md.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configText, inventoryText, median } from './bench/fixtures.js';
import { runMain, writeTableSection } from './bench/report.js';
import { DaemonProc } from './lab/daemon.js';
import { BIN, buildCluster, kernelTestsBlocked, Lab, ROOT } from './lab/netns.js';
import { residentMb } from './lab/resident.js';

const START = '<!-- bench-runtime: written by npm run bench:runtime -->';
const END = '<!-- /bench-runtime -->';
const RUNS = 5;
const SEMI = '--max-semi-space-size=1';
const MALLOC = 'MALLOC_MMAP_THRESHOLD_=16384';

interface Variant {
  name: string;
  node: string;
  settings: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** bin/artesca-fw ARGS on `v.node`, with the unit's two settings or with neither (whatever the environment holds), through env: no shell. */
function command(v: Variant, args: string[]): string[] {
  const settings = v.settings ? [MALLOC, `NODE_OPTIONS=${SEMI}`] : ['-u', 'MALLOC_MMAP_THRESHOLD_', '-u', 'NODE_OPTIONS'];
  return ['env', ...settings, v.node, BIN, ...args];
}

function timePlan(v: Variant, config: string): number {
  const [cmd, ...args] = command(v, ['plan', '--config', config, '--iface', 'controlPlane=lo', '--iface', 'workloadPlane=lo']);
  const t = performance.now();
  const r = spawnSync(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`plan (${v.name}): ${r.stderr}`);
  return ms;
}

async function daemonRss(ns: string, v: Variant, config: string): Promise<{ rss: number; anon: number }> {
  const d = new DaemonProc(ns, ['--config', config], command(v, ['run']));
  try {
    await d.waitFor((l) => l.event === 'apply' && l.reason === 'startup', 60_000);
    await sleep(20_000);
    // `ip netns exec` runs env, which runs node (the agent), which runs tcpdump: the first node down the tree.
    let pid = d.proc.pid!;
    while (!readlinkSync(`/proc/${pid}/exe`).endsWith('/node')) {
      const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      if (!kids.length) throw new Error('no node process under the daemon');
      pid = Number(kids[0]);
    }
    const m = residentMb(pid);
    return { rss: m.rss, anon: m.anon };
  } finally {
    await d.kill('SIGKILL');
  }
}

async function main(): Promise<number> {
  const blocked = kernelTestsBlocked();
  if (blocked) throw new Error(blocked);
  const node24 = path.join(
    execFileSync('bash', [path.join(ROOT, 'scripts/package/fetch-node.sh')], { encoding: 'utf8' }).trim(),
    'bin/node',
  );
  // The machine's own node: the first on PATH that is not the packaged runtime (scripts/with-node24.sh puts that first).
  const machine = execFileSync('bash', ['-c', 'type -ap node'], { encoding: 'utf8' })
    .split('\n')
    .find((p) => p && !p.startsWith(path.join(ROOT, 'out')))!;
  const version = (n: string) => execFileSync(n, ['--version'], { encoding: 'utf8' }).trim();
  const variants: Variant[] = [
    { name: `${version(machine)} (a clone)`, node: machine, settings: true },
    { name: `${version(machine)} (a clone)`, node: machine, settings: false },
    { name: `${version(node24)} (the package)`, node: node24, settings: true },
    { name: `${version(node24)} (the package)`, node: node24, settings: false },
  ];
  const dir = path.join(os.tmpdir(), `afw-bench-runtime-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const rows: string[] = [];
  try {
    for (const nodes of [3, 5000]) {
      const sub = path.join(dir, String(nodes));
      mkdirSync(sub, { recursive: true });
      writeFileSync(path.join(sub, 'inventory.yaml'), inventoryText(nodes));
      writeFileSync(path.join(sub, 'config.yaml'), configText());
      const times = variants.map(() => [] as number[]);
      for (let r = 0; r < RUNS; r++)
        for (const [i, v] of variants.entries()) times[i]!.push(timePlan(v, path.join(sub, 'config.yaml')));
      for (const [i, v] of variants.entries())
        rows.push(
          `| plan, ${nodes} nodes | ${v.name} | ${v.settings ? 'with' : 'without'} | ${median(times[i]!).toFixed(0)} ms |`,
        );
    }
    const lab = new Lab('rt');
    try {
      const ns = (await buildCluster(lab, [{ name: 'node', cp: ['10.100.0.1/16'], wp: ['10.200.0.1/16'] }])).node!;
      const sub = path.join(dir, 'daemon');
      mkdirSync(sub, { recursive: true });
      writeFileSync(path.join(sub, 'inventory.yaml'), inventoryText(5000));
      writeFileSync(path.join(sub, 'config.yaml'), configText());
      const shipped = variants.filter((v) => v.node === node24);
      const got = shipped.map(() => [] as { rss: number; anon: number }[]);
      for (let r = 0; r < 2; r++)
        for (const [i, v] of shipped.entries()) got[i]!.push(await daemonRss(ns, v, path.join(sub, 'config.yaml')));
      for (const [i, v] of shipped.entries())
        rows.push(
          `| daemon RSS (anonymous) 20 s after its first load, 5,000 nodes | ${v.name} | ${v.settings ? 'with' : 'without'} | ${got[i]!.map((g) => `${g.rss.toFixed(1)} (${g.anon.toFixed(1)}) MB`).join(', ')} |`,
        );
    } finally {
      await lab.cleanup();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const r of rows) console.log(r);
  writeTableSection(
    { start: START, end: END },
    "## 16. The daemon's runtime settings",
    `\`npm run bench:runtime\` (\`scripts/bench-runtime.ts\`), ${new Date().toISOString().slice(0, 10)}. \`${MALLOC}\` and \`${SEMI}\`, with and without, on the machine's Node (what a clone runs) and on the one the package ships: \`plan\` process start to exit (median of ${RUNS}, interleaved), and the daemon's resident memory. What it decided: the two pay for the daemon's memory at no measurable cost in time on the Node that ships, and cost one-shot commands time on the machine's Node for memory a process that exits does not keep; so they are set in the daemon's unit (\`Environment=\`, which the lab's daemons read too) and no longer in \`bin/artesca-fw\`'s first line.`,
    ['what', 'runtime', 'settings', 'figure'],
    rows,
  );
  return 0;
}

runMain(main);
