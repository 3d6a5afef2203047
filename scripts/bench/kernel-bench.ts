// The benchmarks that need the kernel, each in namespaces it makes and removes:
// apply against the raw tools, reconverge, drift, memory, status server
// throughput, packet path.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compile } from '../../src/compile/compile.js';
import { toDesired } from '../../src/compile/desired.js';
import { createLine } from '../../src/compile/render-ipset.js';
import { renderFamily } from '../../src/compile/render-iptables.js';
import { parseConfig } from '../../src/config/validate-config.js';
import { checkCluster, parseInventory } from '../../src/config/validate-inventory.js';
import { DaemonProc } from '../lab/daemon.js';
import { buildCluster, Lab, ROOT } from '../lab/netns.js';
import { residentMb, rssMb } from '../lab/resident.js';
import { configText, inventoryText, median, nodeAddress, percentile } from './fixtures.js';

const IFACES = [
  { name: 'cp0', addresses: [{ address: '10.100.0.1', family: 4 as const }] },
  { name: 'wp0', addresses: [{ address: '10.200.0.1', family: 4 as const }] },
];

async function nodeLab(tag: string): Promise<{ lab: Lab; ns: Record<string, string>; dir: string; done: () => Promise<void> }> {
  const lab = new Lab(tag);
  const dir = path.join(os.tmpdir(), lab.id);
  mkdirSync(dir, { recursive: true });
  const ns = await buildCluster(lab, [
    { name: 'node', cp: ['10.100.0.1/16'], wp: ['10.200.0.1/16'] },
    { name: 'peer', cp: [`${nodeAddress('cp', 1)}/16`], wp: [`${nodeAddress('wp', 1)}/16`] },
  ]);
  return {
    lab,
    ns,
    dir,
    done: async () => {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ApplyResult {
  nodes: number;
  rawMs: number;
  oursMs: number;
  ratio: number;
  noopMs: number;
  noopP99Ms: number;
  noopWrote: boolean;
  readMs: number;
  verifyMs: number;
  /** Processes started by the raw script, by apply, by a no-op reconcile. */
  starts: { raw: number; ours: number; noop: number };
  /** Median time to start and reap `true` from the worker: the price of one process start. */
  startMs: number;
}

export async function benchApply(sizes: number[], runs = 10): Promise<ApplyResult[]> {
  const out: ApplyResult[] = [];
  const cfg = parseConfig(configText(), '/etc/artesca-fw/config.yaml', { hostname: 'x' });
  for (const n of sizes) {
    const inv = parseInventory(inventoryText(n), '/etc/artesca-fw/inventory.yaml');
    checkCluster(cfg, inv);
    const rs = compile({ config: cfg.config, inventory: inv.inventory, interfaces: IFACES });
    const rawSets = rs.sets.map((s) => [createLine(s), ...s.members.map((m) => `add ${s.name} ${m}`)].join('\n')).join('\n');
    const L = await nodeLab('ap');
    try {
      const file = path.join(L.dir, 'input.json');
      writeFileSync(
        file,
        JSON.stringify({
          rawSets: `${rawSets}\n`,
          ipv4: renderFamily(rs.families.find((f) => f.family === 4)!),
          ipv6: renderFamily(rs.families.find((f) => f.family === 6)!),
          desired: toDesired(rs),
        }),
      );
      const r = await L.lab.exec(L.ns.node!, process.execPath, [
        path.join(ROOT, 'dist/scripts/bench/apply-worker.js'),
        file,
        String(runs),
      ]);
      if (r.code !== 0) throw new Error(`apply worker: ${r.stderr}`);
      const res = JSON.parse(r.stdout) as {
        raw: number[];
        ours: number[];
        noop: number[];
        noopWrote: boolean;
        reads: number[];
        verifies: number[];
        starts: { raw: number; ours: number; noop: number };
        bare: number[];
      };
      out.push({
        nodes: n,
        rawMs: median(res.raw),
        oursMs: median(res.ours),
        ratio: median(res.ours) / median(res.raw),
        noopMs: median(res.noop),
        noopP99Ms: percentile(res.noop, 99),
        noopWrote: res.noopWrote,
        readMs: median(res.reads),
        verifyMs: median(res.verifies),
        starts: res.starts,
        startMs: median(res.bare),
      });
    } finally {
      await L.done();
    }
  }
  return out;
}

export interface DaemonResult {
  nodes: number;
  reconvergeP50: number;
  reconvergeP99: number;
  /**
   * Medians of where each reconverge went: waiting for the file event (and its
   * debounce) and the log line, reading + checking + compiling, loading (of
   * which reading what is live, and writing).
   */
  phases: { waitMs: number; compileMs: number; loadMs: number; readMs: number; writeMs: number };
  edits: number;
  driftP50: number;
  driftP99: number;
  drifts: number;
  /** RSS after the 70 reconciles above and 12 s idle. */
  rssMb: number;
  /** RSS 15 s after the two wrk runs (10 s of requests as fast as the server answers). */
  rssAfterStatusLoadMb: number;
  statusRps: number;
  metricsRps: number;
}

async function wrk(lab: Lab, ns: string, url: string): Promise<number> {
  const r = await lab.exec(ns, 'wrk', ['-t1', '-c8', '-d5s', url]);
  if (r.code !== 0) throw new Error(`wrk: ${r.stderr}`);
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? 0);
}

export async function benchDaemon(nodes: number, edits = 50, drifts = 20): Promise<DaemonResult> {
  const L = await nodeLab('dm');
  const d = { proc: undefined as DaemonProc | undefined };
  try {
    const inv = path.join(L.dir, 'inventory.yaml');
    const extra = { name: 'extra', cp: '10.100.254.1', wp: '10.200.254.1' };
    const texts = [inventoryText(nodes), inventoryText(nodes, [extra])];
    writeFileSync(inv, texts[0]!);
    writeFileSync(path.join(L.dir, 'config.yaml'), configText());
    d.proc = new DaemonProc(L.ns.node!, ['--config', path.join(L.dir, 'config.yaml')]);
    await d.proc.waitFor((l) => l.event === 'apply' && l.reason === 'startup', 60_000);
    await new Promise((r) => setTimeout(r, 2000));

    // Reconverge: inventory written on disk -> the apply that put it live has logged
    // (it logs after the read-back verified the kernel holds the new set).
    const reconverge: number[] = [];
    const phases = {
      wait: [] as number[],
      compile: [] as number[],
      load: [] as number[],
      read: [] as number[],
      write: [] as number[],
    };
    const WARM_UP = 3; // the first reconciles after start run cold code (JIT); not counted, as in the other benchmarks
    for (let i = -WARM_UP; i < edits; i++) {
      const since = d.proc.logs.length;
      const t0 = performance.now();
      writeFileSync(inv, texts[(i + WARM_UP + 1) % 2]!);
      const line = await d.proc.waitFor(
        (l) => l.event === 'apply' && l.reason === 'file change' && l.result === 'applied',
        10_000,
        since,
      );
      const took = performance.now() - t0;
      if (i >= 0) {
        reconverge.push(took);
        // Where the time went, from the daemon's own log line.
        const steps = line.loadSteps as { read: number; write: number };
        phases.wait.push(took - (line.durationMs as number));
        phases.compile.push(line.compileMs as number);
        phases.load.push(line.loadMs as number);
        phases.read.push(steps.read);
        phases.write.push(steps.write);
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    writeFileSync(inv, texts[0]!);
    await new Promise((r) => setTimeout(r, 1000));

    // Drift: someone flushes our busiest chain -> repaired (logged after read-back).
    const drift: number[] = [];
    for (let i = 0; i < drifts; i++) {
      const since = d.proc.logs.length;
      await L.lab.must(L.ns.node!, 'iptables-nft', ['-t', 'mangle', '-F', 'AFW-CP-IN']);
      const t0 = performance.now();
      await d.proc.waitFor((l) => l.reason === 'drift' && l.result === 'repaired', 10_000, since);
      drift.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 200));
    }

    // Idle after the bursts above: give the collector its quiet second and V8 its memory reducer.
    await new Promise((r) => setTimeout(r, 12_000));
    const rssIdle = rssMb(d.proc.proc.pid!);
    const statusRps = await wrk(L.lab, L.ns.node!, 'http://127.0.0.1:9900/status');
    const metricsRps = await wrk(L.lab, L.ns.node!, 'http://127.0.0.1:9900/metrics');
    await new Promise((r) => setTimeout(r, 15_000));
    const rssAfterStatusLoad = rssMb(d.proc.proc.pid!);
    return {
      nodes,
      reconvergeP50: percentile(reconverge, 50),
      reconvergeP99: percentile(reconverge, 99),
      phases: {
        waitMs: median(phases.wait),
        compileMs: median(phases.compile),
        loadMs: median(phases.load),
        readMs: median(phases.read),
        writeMs: median(phases.write),
      },
      edits,
      driftP50: percentile(drift, 50),
      driftP99: percentile(drift, 99),
      drifts,
      rssMb: rssIdle,
      rssAfterStatusLoadMb: rssAfterStatusLoad,
      statusRps,
      metricsRps,
    };
  } finally {
    await d.proc?.kill('SIGKILL');
    await L.done();
  }
}

export interface MemoryResult {
  /** RSS each second after the first apply, in MB. */
  rssMb: number[];
  /** V8 heap in use at the end, from /status. */
  heapUsedMb: number;
  /** The last sample's anonymous and file-backed parts (residentMb). */
  anonMb: number;
  fileMb: number;
}

/**
 * RSS of a freshly started daemon, each second for `seconds` after its first
 * apply (the last one is the idle figure: V8's memory reducer runs about 8 s
 * after activity ends, so the first seconds are not yet idle).
 */
export async function benchMemory(nodes: number, seconds = 20): Promise<MemoryResult> {
  const L = await nodeLab('mm');
  let proc: DaemonProc | undefined;
  try {
    writeFileSync(path.join(L.dir, 'inventory.yaml'), inventoryText(nodes));
    writeFileSync(path.join(L.dir, 'config.yaml'), configText());
    proc = new DaemonProc(L.ns.node!, ['--config', path.join(L.dir, 'config.yaml')]);
    await proc.waitFor((l) => l.event === 'apply' && l.reason === 'startup', 60_000);
    const rss: number[] = [];
    let last = { rss: 0, anon: 0, file: 0 };
    for (let s = 0; s < seconds; s++) {
      await new Promise((r) => setTimeout(r, 1000));
      last = residentMb(proc.proc.pid!);
      rss.push(last.rss);
    }
    const status = JSON.parse((await L.lab.peer(L.ns.node!).http('http://127.0.0.1:9900/status')).body) as {
      memory: { heapUsedMb: number };
    };
    return { rssMb: rss, heapUsedMb: status.memory.heapUsedMb, anonMb: last.anon, fileMb: last.file };
  } finally {
    await proc?.kill('SIGKILL');
    await L.done();
  }
}

export interface PacketResult {
  mode: string;
  gbps: number;
  ofNoFirewall: number;
  /** Slowest and fastest round, to show the machine's noise. */
  min: number;
  max: number;
}

export async function benchPacketPath(nodes: number, seconds = 4, rounds = 5): Promise<PacketResult[]> {
  const L = await nodeLab('pk');
  const server = L.ns.node!;
  const client = L.ns.peer!;
  const clientIp = nodeAddress('cp', nodes - 1); // the last peer of the inventory: the worst place for a naive list
  try {
    await L.lab.must(client, 'ip', ['addr', 'add', `${clientIp}/16`, 'dev', 'cp0']);
    writeFileSync(path.join(L.dir, 'inventory.yaml'), inventoryText(nodes));
    const config = configText({
      extra: {
        policies: [
          {
            name: 'iperf',
            order: 300,
            appliesTo: { plane: 'controlPlane' },
            ingress: [{ action: 'allow', protocol: 'tcp', ports: [5201], from: { plane: 'controlPlane' } }],
          },
        ],
      },
    });
    writeFileSync(path.join(L.dir, 'config.yaml'), config);
    const iperfd = spawn('ip', ['netns', 'exec', server, 'iperf3', '-s', '-B', '10.100.0.1', '-p', '5201'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 500));
    const measure = async (): Promise<number> => {
      const r = await L.lab.exec(client, 'iperf3', [
        '-c',
        '10.100.0.1',
        '-p',
        '5201',
        '-B',
        clientIp,
        '-t',
        String(seconds),
        '-J',
      ]);
      if (r.code !== 0) throw new Error(`iperf3: ${r.stdout.slice(0, 300)} ${r.stderr}`);
      return JSON.parse(r.stdout).end.sum_received.bits_per_second / 1e9;
    };
    // One rule per peer, no conntrack shortcut, as a naive generator would write it.
    const naiveLines = ['*mangle', ':NAIVE - [0:0]'];
    for (let i = 0; i < nodes; i++)
      naiveLines.push(`-A NAIVE -s ${nodeAddress('cp', i)}/32 -p tcp -m tcp --dport 5201 -j RETURN`);
    // The rules put into the shared PREROUTING chain, removed by their text (never by position).
    const naiveJump = ['-i', 'cp0', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'NAIVE'];
    naiveLines.push('-A NAIVE -j DROP', `-I PREROUTING 1 ${naiveJump.join(' ')}`, 'COMMIT', '');
    // The least a stateful firewall does: conntrack on, one rule accepting established packets.
    const conntrackRule = ['-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'];
    const conntrackLines = ['*mangle', `-I PREROUTING 1 ${conntrackRule.join(' ')}`, 'COMMIT', ''];
    const cfgFile = path.join(L.dir, 'config.yaml');
    const modes: Record<string, { on: () => Promise<void>; off: () => Promise<void>; gbps: number[] }> = {
      none: { on: async () => {}, off: async () => {}, gbps: [] },
      ours: {
        on: async () => {
          const r = await L.lab.cli(server, ['apply', '--config', cfgFile]);
          if (r.code !== 0) throw new Error(`apply: ${r.stderr}`);
        },
        off: async () => {
          await L.lab.cli(server, ['flush', '--config', cfgFile]);
        },
        gbps: [],
      },
      naive: {
        on: () => L.lab.must(server, 'iptables-nft-restore', ['--noflush'], { input: naiveLines.join('\n') }).then(() => {}),
        off: async () => {
          await L.lab.must(server, 'iptables-nft', ['-t', 'mangle', '-D', 'PREROUTING', ...naiveJump]);
          await L.lab.must(server, 'iptables-nft', ['-t', 'mangle', '-F', 'NAIVE']);
          await L.lab.must(server, 'iptables-nft', ['-t', 'mangle', '-X', 'NAIVE']);
        },
        gbps: [],
      },
      conntrack: {
        on: () => L.lab.must(server, 'iptables-nft-restore', ['--noflush'], { input: conntrackLines.join('\n') }).then(() => {}),
        off: async () => {
          await L.lab.must(server, 'iptables-nft', ['-t', 'mangle', '-D', 'PREROUTING', ...conntrackRule]);
        },
        gbps: [],
      },
    };
    // Interleaved rounds, so that a slow moment of the machine hits every mode alike.
    for (let round = 0; round < rounds; round++) {
      for (const m of Object.values(modes)) {
        await m.on();
        m.gbps.push(await measure());
        await m.off();
      }
    }
    const none = median(modes.none!.gbps);
    const ours = median(modes.ours!.gbps);
    const naive = median(modes.naive!.gbps);
    const conntrack = median(modes.conntrack!.gbps);
    iperfd.kill('SIGKILL');
    const spread = (m: string) => ({ min: Math.min(...modes[m]!.gbps), max: Math.max(...modes[m]!.gbps) });
    return [
      { mode: 'no firewall', gbps: none, ofNoFirewall: 1, ...spread('none') },
      { mode: `artesca-fw (${nodes}-node inventory, peers in sets)`, gbps: ours, ofNoFirewall: ours / none, ...spread('ours') },
      {
        mode: `naive: one rule per peer (${nodes} rules, client last)`,
        gbps: naive,
        ofNoFirewall: naive / none,
        ...spread('naive'),
      },
      {
        mode: 'conntrack only (one rule accepting established packets)',
        gbps: conntrack,
        ofNoFirewall: conntrack / none,
        ...spread('conntrack'),
      },
    ];
  } finally {
    await L.done();
  }
}
