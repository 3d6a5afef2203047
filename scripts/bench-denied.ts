// `npm run bench:denied` (root): what the record of denied flows costs.
//
// 1. Under a flood: node-1 runs the real daemon (enforce mode, the record on
//    with its defaults); an outsider sends refused UDP datagrams at 2,000 a
//    second from 10,000 distinct source addresses (raw socket, addresses of
//    the control plane's /16) for FLOOD_S seconds. Measured from /proc: the
//    CPU of the agent and of its tcpdump reader (share of one core over the
//    flood), and the agent's resident memory (VmRSS and anonymous RSS) idle
//    before, and after the flood; the record's flows, packets and overflow,
//    against what was sent and what the kernel counted.
// 2. Throughput of allowed traffic with the record on and off: iperf3 from
//    node-2 to node-1 on an allowed port, rounds interleaved (on, off, on,
//    ...), medians: established packets never reach the NFLOG rules, so the
//    two should not differ beyond noise.
// Rewrites its section of BENCHMARKS.md.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { median } from './bench/fixtures.js';
import { runMain, writeTableSection } from './bench/report.js';
import { DaemonProc, until } from './lab/daemon.js';
import { buildCluster, kernelTestsBlocked, Lab } from './lab/netns.js';

const START = '<!-- bench-denied: written by npm run bench:denied -->';
const END = '<!-- /bench-denied -->';
const RATE = 2000;
const SOURCES = 10_000;
const FLOOD_S = 30;
const IPERF_ROUNDS = 5;
const IPERF_S = 3;
const CLK_TCK = 100;

const config = (record: boolean) => `apiVersion: artesca-fw/v1
node: { name: node-1, roles: [bootstrap, master, etcd, infra, registry] }
networks: { controlPlane: { cidr: 10.100.0.0/16 }, workloadPlane: { cidr: 10.200.0.0/24 } }
inventory: { file: inventory.yaml }
stateDir: state
logDrops: false
denied: { record: ${record} }
`;
const INVENTORY = `apiVersion: artesca-fw/v1
nodes:
  - { name: node-1, roles: [bootstrap, master, etcd, infra, registry], controlPlaneIP: 10.100.0.1, workloadPlaneIP: 10.200.0.1 }
  - { name: node-2, roles: [master, etcd, infra], controlPlaneIP: 10.100.0.2, workloadPlaneIP: 10.200.0.2 }
`;

/** RATE datagrams a second for FLOOD_S seconds to node-1's udp/9999, each from one of SOURCES addresses in turn. */
const FLOOD = `
import socket, struct, sys, time
rate, sources, seconds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
dst = socket.inet_aton('10.100.0.1')
def packet(i):
    src = socket.inet_aton('10.100.%d.%d' % (1 + i // 250, 1 + i % 250))
    udp = struct.pack('!HHHH', 40000, 9999, 9, 0) + b'x'
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), i & 0xffff, 0, 64, 17, 0, src, dst)
    return ip + udp
packets = [packet(i) for i in range(sources)]
start = time.monotonic()
sent = 0
while sent < rate * seconds:
    due = int((time.monotonic() - start) * rate) + 1
    while sent < min(due, rate * seconds):
        s.sendto(packets[sent % sources], ('10.100.0.1', 0))
        sent += 1
    time.sleep(0.002)
print(sent)
`;

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

function memory(pid: number): { rssMb: number; anonMb: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0);
  return { rssMb: kb('VmRSS') / 1024, anonMb: kb('RssAnon') / 1024 };
}

async function main(): Promise<number> {
  const blocked = kernelTestsBlocked();
  if (blocked) throw new Error(blocked);
  const lab = new Lab('bd');
  const lines: string[] = [];
  let daemon: DaemonProc | null = null;
  let iperfd: ChildProcess | null = null;
  try {
    const ns = await buildCluster(lab, [
      { name: 'node-1', cp: ['10.100.0.1/16'], wp: ['10.200.0.1/24'] },
      { name: 'node-2', cp: ['10.100.0.2/16'], wp: ['10.200.0.2/24'] },
      { name: 'outsider', cp: ['10.100.0.50/16'], wp: [] },
    ]);
    const n1 = ns['node-1']!;
    const dir = (await lab.must(n1, 'mktemp', ['-d'])).trim();
    const configFile = path.join(dir, 'config.yaml');
    writeFileSync(path.join(dir, 'inventory.yaml'), INVENTORY);
    const status = async () => {
      const r = await lab.exec(n1, 'curl', ['-s', 'http://127.0.0.1:9900/status']);
      return JSON.parse(r.stdout);
    };
    const startDaemon = async (record: boolean) => {
      writeFileSync(configFile, config(record));
      const d = new DaemonProc(n1, ['--config', configFile]);
      daemon = d;
      await until(
        async () => (await lab.exec(n1, 'curl', ['-sf', 'http://127.0.0.1:9900/readyz'])).code === 0,
        30_000,
        100,
      ).catch((err: Error) => {
        throw new Error(
          `${err.message}: the daemon never got ready: ${JSON.stringify(d.logs.slice(-3))} ${d.stderr.join(' | ')}`,
        );
      });
      if (record) await until(async () => (await status()).denied.reader.state === 'reading', 10_000, 100);
    };
    const stopDaemon = async () => {
      await daemon?.kill('SIGTERM');
      daemon = null;
    };

    // 1. The flood.
    await startDaemon(true);
    const agent = daemon!.proc.pid!;
    const s0 = await status();
    const children = (await lab.must(n1, 'ps', ['-o', 'pid=,comm=', '--ppid', String(agent)])).trim().split('\n');
    const reader = Number(
      children
        .find((l) => l.trim().endsWith('tcpdump'))
        ?.trim()
        .split(/\s+/)[0],
    );
    if (!reader) throw new Error(`no tcpdump among the agent's children: ${children.join('; ')}`);
    await new Promise((r) => setTimeout(r, 5000)); // settle: the first seconds after start are not idle
    const i0 = cpuTicks(agent);
    const ti = performance.now();
    await new Promise((r) => setTimeout(r, 10_000));
    const idleCpu = ((cpuTicks(agent) - i0) / CLK_TCK / ((performance.now() - ti) / 1000)) * 100;
    const idle = memory(agent);
    const a0 = cpuTicks(agent);
    const r0 = cpuTicks(reader);
    const t0 = performance.now();
    const sent = Number(
      (await lab.must(ns.outsider!, 'python3', ['-c', FLOOD, String(RATE), String(SOURCES), String(FLOOD_S)])).trim(),
    );
    const seconds = (performance.now() - t0) / 1000;
    const agentCpu = ((cpuTicks(agent) - a0) / CLK_TCK / seconds) * 100;
    const readerCpu = ((cpuTicks(reader) - r0) / CLK_TCK / seconds) * 100;
    await new Promise((r) => setTimeout(r, 2000)); // the last batch (NFLOG hands packets over each second)
    const flooded = memory(agent);
    const s1 = await status();
    const kernel = s1.denied.packets - s0.denied.packets;
    const rec = s1.denied;
    lines.push(
      `| agent CPU idle (10 s before the flood) / during the flood | ${idleCpu.toFixed(2)} % / ${agentCpu.toFixed(2)} % of one core |`,
      `| tcpdump (the NFLOG reader) CPU during the flood | ${readerCpu.toFixed(2)} % of one core |`,
      `| agent VmRSS idle / after the flood | ${idle.rssMb.toFixed(1)} MB / ${flooded.rssMb.toFixed(1)} MB (+${(flooded.rssMb - idle.rssMb).toFixed(1)} MB) |`,
      `| agent anonymous RSS idle / after the flood | ${idle.anonMb.toFixed(1)} MB / ${flooded.anonMb.toFixed(1)} MB (+${(flooded.anonMb - idle.anonMb).toFixed(1)} MB) |`,
      `| sent / counted by the kernel's deny rules / in the record (+ in overflow) | ${sent.toLocaleString('en-US')} / ${kernel.toLocaleString('en-US')} / ${rec.flowPackets.toLocaleString('en-US')} (+ ${rec.overflowPackets}) packets |`,
      `| flows in the record / overflow (keys) | ${rec.flows.toLocaleString('en-US')} / ${rec.overflow} |`,
    );
    console.log(lines.join('\n'));
    await stopDaemon();

    // 2. Throughput of allowed traffic, the record on and off, interleaved.
    iperfd = spawn('ip', ['netns', 'exec', n1, 'iperf3', '-s', '-B', '10.100.0.1', '-p', '2379'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 500));
    const gbits: Record<'on' | 'off', number[]> = { on: [], off: [] };
    for (let round = 0; round < IPERF_ROUNDS; round++) {
      for (const mode of ['on', 'off'] as const) {
        await startDaemon(mode === 'on');
        const r = await lab.exec(ns['node-2']!, 'iperf3', ['-c', '10.100.0.1', '-p', '2379', '-t', String(IPERF_S), '-J']);
        if (r.code !== 0) throw new Error(`iperf3: ${r.stdout.slice(0, 300)} ${r.stderr}`);
        gbits[mode].push(JSON.parse(r.stdout).end.sum_received.bits_per_second / 1e9);
        await stopDaemon();
      }
    }
    const on = median(gbits.on);
    const off = median(gbits.off);
    const range = (xs: number[]) => `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}`;
    lines.push(
      `| iperf3 node-2 -> node-1 (allowed), record on / off, median of ${IPERF_ROUNDS} | ${on.toFixed(2)} / ${off.toFixed(2)} Gbit/s (${((on / off) * 100).toFixed(1)} %); rounds on ${range(gbits.on)}, off ${range(gbits.off)} |`,
    );
    console.log(lines.at(-1));
  } finally {
    iperfd?.kill('SIGKILL');
    await (daemon as DaemonProc | null)?.kill('SIGTERM');
    await lab.cleanup();
  }
  writeTableSection(
    { start: START, end: END },
    '## 12. The record of denied flows',
    `\`npm run bench:denied\` (\`scripts/bench-denied.ts\`), ${new Date().toISOString().slice(0, 10)}, Node ${process.version}. node-1 runs the real daemon (enforce, the record on with its defaults: maxFlows 10,000, 2,000 packets a second per deny rule to NFLOG). An outsider sends ${RATE.toLocaleString('en-US')} refused UDP datagrams a second from ${SOURCES.toLocaleString('en-US')} distinct source addresses for ${FLOOD_S} s. CPU is the share of one core over the flood (utime + stime from /proc); idle CPU over the 10 s before it, memory read then (15 s after ready) and 2 s after the flood. The goal: the agent under 5 % of a core, its RSS within 10 MB of idle. Throughput: iperf3 on an allowed port, ${IPERF_S} s per run, rounds interleaved (on, off, on, ...), medians.`,
    ['figure', 'value'],
    lines,
  );
  return 0;
}

runMain(main);
