// `npm run bench:runtime` (root): what the daemon's runtime settings
// (MALLOC_MMAP_THRESHOLD_=16384 and --max-semi-space-size=1; in its unit since
// this measure, bin/artesca-fw's first line before) buy and cost, on the machine's Node (what a clone
// runs) and on the Node that ships. `plan` of a 3- and a 5,000-node inventory,
// process start to exit, median of RUNS interleaved rounds per variant, and
// the ratio of the two sizes (issue 22's goal); plan's steps in process, cold
// (scripts/bench/plan-phases.ts); the daemon with a 5,000-node inventory on
// the shipped Node, RSS (anonymous) 20 s after its first load, two runs per
// variant, interleaved.
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
const RUNS = 9;
const SEMI = '--max-semi-space-size=1';
const MALLOC = 'MALLOC_MMAP_THRESHOLD_=16384';

interface Variant {
  name: string;
  node: string;
  settings: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `v.node` through env, with the unit's two settings or with neither (whatever the environment holds): no shell. */
function runtime(v: Variant): string[] {
  const settings = v.settings ? [MALLOC, `NODE_OPTIONS=${SEMI}`] : ['-u', 'MALLOC_MMAP_THRESHOLD_', '-u', 'NODE_OPTIONS'];
  return ['env', ...settings, v.node];
}

/** bin/artesca-fw ARGS on `v`'s runtime. */
function command(v: Variant, args: string[]): string[] {
  return [...runtime(v), BIN, ...args];
}

function timePlan(v: Variant, config: string): number {
  const [cmd, ...args] = command(v, ['plan', '--config', config, '--iface', 'controlPlane=lo', '--iface', 'workloadPlane=lo']);
  const t = performance.now();
  const r = spawnSync(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`plan (${v.name}): ${r.stderr}`);
  return ms;
}

/** One cold run of plan's steps in process on `v.node` (median material: run it several times). */
function planSteps(v: Variant, config: string, extra: string[] = []): Record<string, number> {
  const [cmd, ...args] = [...runtime(v), path.join(ROOT, 'dist/scripts/bench/plan-phases.js'), config, ...extra];
  const r = spawnSync(cmd!, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`plan-phases (${v.name}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, number>;
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
    const sizes = [3, 5000];
    const configs = new Map<number, string>();
    for (const nodes of sizes) {
      const sub = path.join(dir, String(nodes));
      mkdirSync(sub, { recursive: true });
      writeFileSync(path.join(sub, 'inventory.yaml'), inventoryText(nodes));
      writeFileSync(path.join(sub, 'config.yaml'), configText());
      configs.set(nodes, path.join(sub, 'config.yaml'));
    }
    // Rounds interleave everything: each round runs every variant at each size, so a ratio is taken within a round.
    const times = new Map(sizes.map((n) => [n, variants.map(() => [] as number[])]));
    for (let r = 0; r < RUNS; r++)
      for (const nodes of sizes)
        for (const [i, v] of variants.entries()) times.get(nodes)![i]!.push(timePlan(v, configs.get(nodes)!));
    for (const nodes of sizes)
      for (const [i, v] of variants.entries())
        rows.push(
          `| plan, ${nodes} nodes | ${v.name} | ${v.settings ? 'with' : 'without'} | ${median(times.get(nodes)![i]!).toFixed(0)} ms |`,
        );
    // Issue 22's goal: plan at 5,000 nodes within 1.3x of plan at 3 nodes, on each runtime as it runs (without the daemon's settings).
    for (const [i, v] of variants.entries()) {
      if (v.settings) continue;
      const big = times.get(5000)![i]!;
      const small = times.get(3)![i]!;
      const rounds = big.map((t, r) => t / small[r]!).sort((a, b) => a - b);
      rows.push(
        `| plan, 5000 nodes / 3 nodes | ${v.name} | without | ${(median(big) / median(small)).toFixed(2)}× (rounds ${rounds[0]!.toFixed(2)}-${rounds[rounds.length - 1]!.toFixed(2)}) |`,
      );
    }
    // Where the time goes: plan's steps in process, cold, one fresh process per sample (scripts/bench/plan-phases.ts).
    for (const v of variants.filter((x) => !x.settings))
      for (const nodes of sizes) {
        const samples: Record<string, number>[] = [];
        for (let r = 0; r < RUNS; r++) samples.push(planSteps(v, configs.get(nodes)!));
        const steps = Object.keys(samples[0]!).map((k) => `${k} ${median(samples.map((x) => x[k]!)).toFixed(1)}`);
        rows.push(`| plan's steps in process, ${nodes} nodes, ms | ${v.name} | without | ${steps.join(' · ')} |`);
        const a = planSteps(v, configs.get(nodes)!, ['--allocations']);
        rows.push(
          `| plan's steps in process, ${nodes} nodes, allocated | ${v.name} | without | ${a.allocatedMb!.toFixed(1)} MB (by js-yaml: ${a.jsYamlMb!.toFixed(1)} MB) |`,
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
    `\`npm run bench:runtime\` (\`scripts/bench-runtime.ts\`), ${new Date().toISOString().slice(0, 10)}. \`${MALLOC}\` and \`${SEMI}\`, with and without, on the machine's Node (what a clone runs) and on the one the package ships: \`plan\` process start to exit (median of ${RUNS} rounds, each running every variant at both sizes), the ratio of 5,000 nodes to 3 (of the medians; in brackets, the lowest and highest ratio within one round), \`plan\`'s steps in process (\`scripts/bench/plan-phases.ts\`: each step timed once in a fresh process, cold, as a command pays it, median of ${RUNS}; gc is the collections' pauses during them; allocated: what the steps allocated, what was collected included, by V8's sampling heap profiler in one more run), and the daemon's resident memory. What it decided: the two pay for the daemon's memory at no measurable cost in time on the Node that ships, and cost one-shot commands time on the machine's Node for memory a process that exits does not keep; so they are set in the daemon's unit (\`Environment=\`, which the lab's daemons read too) and no longer in \`bin/artesca-fw\`'s first line.`,
    ['what', 'runtime', 'settings', 'figure'],
    rows,
  );
  return 0;
}

runMain(main);
