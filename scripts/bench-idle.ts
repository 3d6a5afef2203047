// Idle CPU of the daemon on a busy host: a namespace whose filter table holds
// 20,000 foreign rules, the agent running with its drift detection, nothing
// changing. Measures the CPU time of the agent and all its children (the nft
// monitor, the periodic ipset checks) from /proc over a fixed window.
//   node dist/scripts/bench-idle.js [seconds] [foreignRules] [nft|legacy]
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configText, foreignFilterRules, inventoryText } from './bench/fixtures.js';
import { DaemonProc } from './lab/daemon.js';
import { buildCluster, kernelTestsBlocked, Lab } from './lab/netns.js';
import { rssMb } from './lab/resident.js';

const CLK_TCK = 100;

/** utime + stime (+ reaped children) of a process, in seconds. */
function cpuSeconds(pid: number, withChildren = true): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[11..14] = utime stime cutime cstime (stat fields 14-17)
  const own = Number(fields[11]) + Number(fields[12]);
  return (withChildren ? own + Number(fields[13]) + Number(fields[14]) : own) / CLK_TCK;
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export function treeCpu(pid: number): number {
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
  /** Of which the agent's own process (Node: its timers, and forking each tool it starts). */
  agentPercent: number;
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
  let daemon: DaemonProc | undefined;
  try {
    const ns = await buildCluster(lab, [{ name: 'node', cp: ['10.100.0.1/16'], wp: ['10.200.0.1/16'] }]);
    const node = ns.node!;
    await lab.must(node, `iptables-${backend}-restore`, ['--noflush'], { input: foreignFilterRules(foreignRules) });
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'inventory.yaml'), inventoryText(inventoryNodes));
    writeFileSync(path.join(dir, 'config.yaml'), configText({ extra: { backend } }));
    daemon = new DaemonProc(node, ['--config', path.join(dir, 'config.yaml')]);
    await daemon.waitFor((l) => l.event === 'apply' && l.reason === 'startup', 30_000);
    // Let start-up work settle (JIT, first checks), then measure a quiet window.
    await new Promise((r) => setTimeout(r, 3000));
    const pid = daemon.proc.pid!;
    // The agent counts the processes it starts (each costs milliseconds of CPU).
    const peer = lab.peer(node);
    const toolRuns = async () =>
      Number(/artesca_fw_tool_runs_total (\d+)/.exec((await peer.http('http://127.0.0.1:9900/metrics')).body)?.[1] ?? 0);
    const runsBefore = await toolRuns();
    const before = treeCpu(pid);
    const ownBefore = cpuSeconds(pid, false);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const used = treeCpu(pid) - before;
    const own = cpuSeconds(pid, false) - ownBefore;
    const runs = (await toolRuns()) - runsBefore;
    return {
      backend,
      foreignRules,
      seconds,
      cpuSeconds: used,
      percentOfOneCore: (100 * used) / seconds,
      agentPercent: (100 * own) / seconds,
      rssMb: rssMb(pid),
      toolRunsPerSecond: runs / seconds,
    };
  } finally {
    await daemon?.kill('SIGKILL');
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const reason = kernelTestsBlocked();
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
