// Idle CPU of the daemon on a busy host: a namespace whose filter table holds
// 20,000 foreign rules, the agent running with its drift detection, nothing
// changing. Measures the CPU time of the agent and all its children (the nft
// monitor, the periodic ipset checks) from /proc over a fixed window.
//   node dist/scripts/bench-idle.js [seconds] [foreignRules] [nft|legacy]
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, buildCluster, kernelSkipReason, Lab } from './lab/netns.js';

const CLK_TCK = 100;

/** utime + stime (+ reaped children) of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[11..14] = utime stime cutime cstime (stat fields 14-17)
  return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / CLK_TCK;
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function treeCpu(pid: number): number {
  let total = 0;
  try {
    total += cpuSeconds(pid);
  } catch {
    return 0;
  }
  for (const c of childrenOf(pid)) total += treeCpu(c);
  return total;
}

export interface IdleResult {
  foreignRules: number;
  seconds: number;
  cpuSeconds: number;
  percentOfOneCore: number;
  rssMb: number;
  /** Processes the agent started per second (its tool runs: the drift checks). */
  toolRunsPerSecond: number;
}

export async function measureIdle(
  seconds: number,
  foreignRules: number,
  backend: 'nft' | 'legacy' = 'nft',
  inventoryNodes = 3,
): Promise<IdleResult & { backend: string }> {
  const lab = new Lab('idle');
  const dir = path.join(os.tmpdir(), lab.id);
  try {
    const ns = await buildCluster(lab, [{ name: 'node', cp: ['10.100.0.1/16'], wp: ['10.200.0.1/16'] }]);
    const node = ns.node!;
    const rules = ['*filter', ':FOREIGN - [0:0]'];
    for (let i = 0; i < foreignRules; i++) {
      rules.push(
        `-A FOREIGN -s 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32 -p tcp -m tcp --dport ${1024 + (i % 50000)} -j ACCEPT`,
      );
    }
    rules.push('-A INPUT -j FOREIGN', 'COMMIT', '');
    await lab.must(node, `iptables-${backend}-restore`, ['--noflush'], { input: rules.join('\n') });

    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    const nodes = [];
    for (let i = 0; i < inventoryNodes; i++) {
      nodes.push(
        `  - name: node-${i + 1}\n    roles: [${i === 0 ? 'bootstrap, master, etcd, infra, registry' : ''}]\n    controlPlaneIP: 10.100.${(i + 1) >> 8}.${(i + 1) & 255}\n    workloadPlaneIP: 10.200.${(i + 1) >> 8}.${(i + 1) & 255}`,
      );
    }
    writeFileSync(path.join(dir, 'inventory.yaml'), `apiVersion: artesca-fw/v1\nnodes:\n${nodes.join('\n')}\n`);
    writeFileSync(
      path.join(dir, 'config.yaml'),
      `apiVersion: artesca-fw/v1\nnode: { name: node-1, roles: [bootstrap, master, etcd, infra, registry] }\nnetworks:\n  controlPlane: { cidr: 10.100.0.0/16 }\n  workloadPlane: { cidr: 10.200.0.0/16 }\ninventory: {}\nstateDir: state\nlogDrops: false\nbackend: ${backend}\n`,
    );
    const { spawn } = await import('node:child_process');
    const proc = spawn('ip', ['netns', 'exec', node, BIN, 'run', '--config', path.join(dir, 'config.yaml')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const t0 = Date.now();
    while (!out.includes('"reason":"startup"')) {
      if (Date.now() - t0 > 30_000) throw new Error(`agent did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Let start-up work settle (JIT, first checks), then measure a quiet window.
    await new Promise((r) => setTimeout(r, 3000));
    const pid = proc.pid!;
    // The agent counts the processes it starts (each costs milliseconds of CPU).
    const peer = lab.peer(node);
    const toolRuns = async () =>
      Number(/artesca_fw_tool_runs_total (\d+)/.exec((await peer.http('http://127.0.0.1:9900/metrics')).body)?.[1] ?? 0);
    const runsBefore = await toolRuns();
    const before = treeCpu(pid);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const used = treeCpu(pid) - before;
    const runs = (await toolRuns()) - runsBefore;
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    proc.kill('SIGKILL');
    return {
      backend,
      foreignRules,
      seconds,
      cpuSeconds: used,
      percentOfOneCore: (100 * used) / seconds,
      rssMb: rssKb / 1024,
      toolRunsPerSecond: runs / seconds,
    };
  } finally {
    await lab.cleanup();
    const { rmSync } = await import('node:fs');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const reason = kernelSkipReason();
  if (reason) {
    console.error(reason);
    process.exit(1);
  }
  const seconds = Number(process.argv[2] ?? 30);
  const foreign = Number(process.argv[3] ?? 20000);
  const backend = process.argv[4] === 'legacy' ? 'legacy' : 'nft';
  measureIdle(seconds, foreign, backend).then(
    (r) => {
      console.log(JSON.stringify(r));
      process.exit(0);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
