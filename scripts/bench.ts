// `npm run bench` (root): every benchmark, in namespaces it makes and removes.
// Prints a table per figure and writes BENCHMARKS.md with the machine, the
// date, the method, the goals and the commands to reproduce.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { benchCompile, type CompileRow } from './bench/compile-bench.js';
import {
  type ApplyResult,
  benchApply,
  benchDaemon,
  benchMemory,
  benchPacketPath,
  type DaemonResult,
  type PacketResult,
} from './bench/kernel-bench.js';
import { writeSection } from './bench/report.js';
import { measureIdle } from './bench-idle.js';
import { kernelTestsBlocked } from './lab/netns.js';

const f1 = (n: number) => n.toFixed(1);
const f0 = (n: number) => n.toFixed(0);
const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');

function tool(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).split('\n')[0]!.trim();
  } catch {
    return 'not installed';
  }
}

function table(head: string[], rows: (string | number)[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join(
    '\n',
  );
}

const START = '<!-- bench: written by npm run bench -->';
const END = '<!-- /bench -->';

/**
 * What the throughput rounds say when the goal is missed: whether the rounds
 * with the firewall overlap those without (noise of the machine), or not (a cost).
 */
function throughputVerdict(none: PacketResult, ours: PacketResult, conntrack: PacketResult): string {
  const floor = `The least any stateful firewall does, conntrack and one rule accepting established packets, gives ${(conntrack.ofNoFirewall * 100).toFixed(1)} % of no firewall in the same rounds.`;
  if (ours.ofNoFirewall >= 0.95) return `The goal is met. ${floor}`;
  const range = (p: PacketResult) => `${p.min.toFixed(2)} - ${p.max.toFixed(2)} Gbit/s`;
  if (ours.max >= none.min) {
    return `The goal (95 %) is not met in this run, within the spread of the rounds: the fastest round with the firewall (${ours.max.toFixed(2)} Gbit/s) is faster than the slowest without (${none.min.toFixed(2)} Gbit/s), on a machine whose client and server share two cores. ${floor}`;
  }
  return `The goal (95 %) is not met in this run, and not by noise: every round with the firewall (${range(ours)}) was slower than every round without (${range(none)}): here the firewall's cost shows above the machine's noise. ${floor} The one-rule-per-peer row shows what the sets save.`;
}

async function main(): Promise<void> {
  const reason = kernelTestsBlocked();
  if (reason) throw new Error(reason);
  const started = new Date();
  const step = (s: string) => console.error(`[bench] ${s}...`);

  step('compile + render (3 to 20,000 nodes)');
  const compile: CompileRow[] = benchCompile([3, 100, 1000, 5000, 20000]);
  step('apply against the raw tools (3 and 5,000 nodes)');
  const apply: ApplyResult[] = await benchApply([3, 5000], 10);
  step('daemon with 3 nodes: reconverge (50 edits), drift (20 flushes), status server');
  const daemon3: DaemonResult = await benchDaemon(3, 50, 20);
  step('daemon with 5,000 nodes: reconverge, drift, memory, status server');
  const daemon5k: DaemonResult = await benchDaemon(5000, 50, 20);
  step('memory of a freshly started daemon, 5,000 nodes, idle 20 s');
  const memory5k = await benchMemory(5000);
  const rssTimeline5k = memory5k.rssMb;
  const rssFresh5k = rssTimeline5k[rssTimeline5k.length - 1]!;
  step('idle CPU with 20,000 foreign rules (nft, 60 s; legacy, 30 s) and none (legacy, 30 s)');
  const idleNft = await measureIdle(60, 20000, 'nft');
  const idleLegacy = await measureIdle(30, 20000, 'legacy');
  const idleLegacy0 = await measureIdle(30, 0, 'legacy');
  step('packet path (iperf3, 5,000-node inventory)');
  const packet: PacketResult[] = await benchPacketPath(5000, 3);

  const c5k = compile.find((r) => r.nodes === 5000)!;
  const a3 = apply.find((r) => r.nodes === 3)!;
  const a5k = apply.find((r) => r.nodes === 5000)!;
  const ours = packet[1]!;

  const md = `# artesca-fw benchmarks

Written by \`npm run bench\` (\`scripts/bench.ts\`) on ${started.toISOString().slice(0, 10)}.
Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${f0(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()},
Node ${process.version}, ${tool('iptables', ['--version'])}, ${tool('nft', ['--version'])}, ${tool('ipset', ['--version'])}, ${tool('iperf3', ['--version'])}.
Everything runs in network namespaces the script makes and removes; nothing touches the machine's own firewall.
Machines here are noisy: each figure is a median (or a percentile) within one run, and ratios compare two things measured side by side in the same run.

Reproduce (root): \`npm ci && npm run bench\` (about 8 minutes; writes this file).

## Goals

${table(
  ['figure', 'goal', 'measured', ''],
  [
    ['compile + render, 5,000 nodes', '≤ 20 ms', `${f1(c5k.compileRenderMs)} ms`, verdict(c5k.compileRenderMs <= 20)],
    [
      'rules, 3 to 20,000 nodes',
      'the same at every size',
      [...new Set(compile.map((r) => r.rules))].join(', '),
      verdict(new Set(compile.map((r) => r.rules)).size === 1),
    ],
    ['apply / raw tools, 3 nodes', '≤ 1.25×', `${a3.ratio.toFixed(2)}×`, verdict(a3.ratio <= 1.25)],
    ['apply / raw tools, 5,000 nodes', '≤ 1.25×', `${a5k.ratio.toFixed(2)}×`, verdict(a5k.ratio <= 1.25)],
    [
      'no-op reconcile, 3 nodes',
      '≤ 10 ms, nothing written',
      `${f1(a3.noopMs)} ms, ${a3.noopWrote ? 'wrote' : 'nothing written'}`,
      verdict(a3.noopMs <= 10 && !a3.noopWrote),
    ],
    ['reconverge p99, 3 nodes', '≤ 250 ms', `${f0(daemon3.reconvergeP99)} ms`, verdict(daemon3.reconvergeP99 <= 250)],
    ['reconverge p99, 5,000 nodes', '≤ 250 ms', `${f0(daemon5k.reconvergeP99)} ms`, verdict(daemon5k.reconvergeP99 <= 250)],
    [
      'drift repaired p99 (3 / 5,000 nodes)',
      '≤ 2 s',
      `${f0(daemon3.driftP99)} / ${f0(daemon5k.driftP99)} ms`,
      verdict(Math.max(daemon3.driftP99, daemon5k.driftP99) <= 2000),
    ],
    [
      'idle CPU, 20,000 foreign rules (nft)',
      '≤ 1 % of a core',
      `${idleNft.percentOfOneCore.toFixed(2)} %`,
      verdict(idleNft.percentOfOneCore <= 1),
    ],
    [
      'idle CPU, 20,000 foreign rules (legacy)',
      '≤ 1 % of a core',
      `${idleLegacy.percentOfOneCore.toFixed(2)} %`,
      verdict(idleLegacy.percentOfOneCore <= 1),
    ],
    ['daemon RSS idle, 5,000 nodes', '≤ 80 MB', `${f1(rssFresh5k)} MB`, verdict(rssFresh5k <= 80)],
    [
      'throughput with the firewall, 5,000 nodes',
      '≥ 95 % of none',
      `${f1(ours.ofNoFirewall * 100)} %`,
      verdict(ours.ofNoFirewall >= 0.95),
    ],
  ],
)}

## 1. Compile + render

In process: parse and validate the inventory (\`load\`), then resolve, compile and
render the three restore batches (\`compile + render\`); median of 15 runs after a
warm-up. Inventories: node-1 with every role, two master/etcd/infra nodes, every
tenth node infra. \`reload after an edit\` is the daemon's case: the file read
again with one node added or removed, through the reader that keeps parsed and
checked nodes by their text (\`src/config/yaml-chunks.ts\`): only the edited node
is parsed and shape-checked again; the other checks (addresses, unique names,
the plane CIDRs) run in full.

${table(
  ['nodes', 'load', 'reload after an edit', 'compile + render', 'rules', 'sets', 'set members'],
  compile.map((r) => [
    r.nodes,
    `${f1(r.loadMs)} ms`,
    `${f1(r.reloadMs)} ms`,
    `${f1(r.compileRenderMs)} ms`,
    r.rules,
    r.sets,
    r.setMembers,
  ]),
)}

The rule count does not move with the inventory: peers live in sets.

## 2. Apply against the raw tools

Inside a fresh namespace, from the same empty start each time (10 runs after a
warm-up, medians): the raw tools load the same rendered input the way a
hand-written script would (\`ipset restore\`, then \`iptables-restore --noflush\`,
then \`ip6tables-restore --noflush\`); artesca-fw's apply loads it in process
(\`scripts/bench/apply-worker.ts\`), which also reads what is live first (to
write only what differs, and to have something to roll back to) and reads it
back after (to verify). Those two reads are measured on their own too.

${table(
  [
    'nodes',
    'raw tools',
    'artesca-fw apply',
    'ratio',
    'of which: read live',
    'of which: read back',
    'no-op reconcile (p50 / p99)',
  ],
  apply.map((r) => [
    r.nodes,
    `${f1(r.rawMs)} ms`,
    `${f1(r.oursMs)} ms`,
    `${r.ratio.toFixed(2)}×`,
    `${f1(r.readMs)} ms`,
    `${f1(r.verifyMs)} ms`,
    `${f1(r.noopMs)} / ${f1(r.noopP99Ms)} ms${r.noopWrote ? ' (wrote!)' : ''}`,
  ]),
)}

Processes started (counted in the worker) and what one start costs there (start
and reap \`true\`, median of 20):

${table(
  ['nodes', 'raw tools', 'artesca-fw apply', 'no-op reconcile', 'one process start'],
  apply.map((r) => [r.nodes, r.starts.raw, r.starts.ours, r.starts.noop, `${f1(r.startMs)} ms`]),
)}

${
  a3.ratio > 1.25 || a5k.ratio > 1.25
    ? `Where the goal is missed, the counts say why. The raw script starts three
processes; apply starts ${a3.starts.ours}: the same three loads (the two families side by
side), three reads of what is live before (${f1(a3.readMs)} ms at 3 nodes, ${f1(a5k.readMs)} ms at
5,000 where the live sets' members are read too) and two read-backs after (${f1(a3.verifyMs)} /
${f1(a5k.verifyMs)} ms). A process start from Node costs about ${f1(a3.startMs)} ms before the tool
does anything (Node forks its whole address space; libuv has no vfork), so at
3 nodes, where each tool has almost nothing to do, five more starts weigh as
much as the loads themselves: without the two reads apply would take about
${f1(a3.oursMs - a3.readMs - a3.verifyMs)} ms against the raw ${f1(a3.rawMs)} ms. At 5,000 nodes the kernel work dominates and the
same reads add ${f1(((a5k.readMs + a5k.verifyMs) / a5k.rawMs) * 100)} %. Both reads stay: the one before is how apply writes only
what differs (unchanged rules keep their counters, a no-op writes nothing) and
has the previous state to roll back to; the read-back is how it catches a tool
that exits 0 without doing the work (design.md, "errors that exit 0"; tested in
test/kernel/dataplane.test.ts). Neither can be merged into fewer processes:
iptables-save reads one family, ipset is a tool of its own, and \`nft list\` does
not show the rule comments that carry artesca-fw's rule hashes. Figures move by
20-50 % between runs on this machine (a shared virtual machine): compare within
one run.`
    : 'The fixed cost of the two reads stays within the goal at both sizes.'
}
A no-op reconcile writes nothing (checked: no batch is sent; rule counters keep
counting, see the dataplane tests): it is the read of what is live and nothing
more (${f1(a3.noopMs)} ms against ${f1(a3.readMs)} ms for the read alone). ${
    a3.noopMs > 10
      ? `It misses 10 ms in this run because tool start-up itself was slow: the raw
script's three tool runs took ${f1(a3.rawMs)} ms, about ${f1(a3.rawMs / 3)} ms each, and the no-op is one
such run (three side by side). `
      : ''
  }With 5,000 nodes it is slower because the read of what is live includes the
sets' ${a5k.nodes * 2}-odd members.

## 3. Reconverge

The real daemon in a namespace; the inventory file is rewritten in place
(alternately adding and removing one node) 50 times, after 3 warm-up edits that
are not counted; time from the write to the
daemon's \`apply\` log line, which it writes once the new set members are live
(the connections of a removed node are cut right after that line). Includes the
50 ms debounce of file events.

${table(
  ['inventory', 'p50', 'p99', 'edits'],
  [daemon3, daemon5k].map((d) => [`${d.nodes} nodes`, `${f0(d.reconvergeP50)} ms`, `${f0(d.reconvergeP99)} ms`, d.edits]),
)}

Where the time goes (medians, from the fields of the daemon's own \`apply\` log
line: \`compileMs\`, \`loadMs\`, \`loadSteps\`):

${table(
  ['inventory', 'file event + debounce', 'read, check, compile', 'load', 'of which: read live', 'of which: write'],
  [daemon3, daemon5k].map((d) => [
    `${d.nodes} nodes`,
    `${f0(d.phases.waitMs)} ms`,
    `${f0(d.phases.compileMs)} ms`,
    `${f0(d.phases.loadMs)} ms`,
    `${f0(d.phases.readMs)} ms`,
    `${f0(d.phases.writeMs)} ms`,
  ]),
)}

With 5,000 nodes an edit changes members of a few sets and no rule: the load is
the read of what is live (both families and the sets' ten thousand members) and
one \`ipset restore\` of the single \`add\` or \`del\` per set; nothing else is
read back, since no rule was written. The inventory is read through the reader
that keeps parsed nodes (section 1). By hand, in the same setup over 40 edits,
the median from write to log line was 283 ms before that reader and the
read-back fix (the whole file parsed and checked on every edit, and both
families read back after a change of set members alone), and 143-208 ms in
five hand runs since (40-50 edits each, as busy as the machine happened to be). ${
    daemon5k.reconvergeP99 > 250
      ? 'The goal is missed in this run: compare the phases with a run that met it (the machine is shared and noisy).'
      : ''
  }

## 4. Drift

The same daemon; \`iptables -t mangle -F AFW-CP-IN\` run 20 times; time from the
flush to the daemon's \`repaired\` log line (after read-back).

${table(
  ['inventory', 'p50', 'p99', 'flushes'],
  [daemon3, daemon5k].map((d) => [`${d.nodes} nodes`, `${f0(d.driftP50)} ms`, `${f0(d.driftP99)} ms`, d.drifts]),
)}

Idle CPU (\`scripts/bench-idle.ts\`: CPU time of the agent and its children from
\`/proc\` over the window, after 3 s of settling), with 20,000 foreign rules in
the filter table and, for comparison, with none; \`tool runs\` is the agent's own
count of the processes it started (\`artesca_fw_tool_runs_total\`):

${table(
  ['backend', 'foreign rules', 'window', 'CPU time', '% of one core', 'tool runs', 'RSS'],
  [idleNft, idleLegacy, idleLegacy0].map((r) => [
    r.backend,
    r.foreignRules,
    `${r.seconds} s`,
    `${r.cpuSeconds.toFixed(2)} s`,
    `${r.percentOfOneCore.toFixed(2)} %`,
    `${r.toolRunsPerSecond.toFixed(2)} /s`,
    `${f1(r.rssMb)} MB`,
  ]),
)}

With nft, change events (\`nft monitor\`) cost nothing while idle, whatever the
tables hold; what remains is the set check (\`ipset -t list\` every 1.5 s) and
Node's timers. iptables-legacy has no change events. A deleted jump or a
flushed chain is seen by that same set check: every jump and the last rule of
every chain match the always-empty watch set, so either lowers a set's
reference count (docs/design.md). The tables are read only for what that
cannot see: mangle of one family every 10 s, in turn, and filter as often as
its read cost allows, between every 10 and every 60 s
(\`src/agent/legacy-poll.ts\`; test/kernel/daemon-legacy.test.ts repairs a
flush within 2 s with 20,000 rules in filter). The cost does not grow with
the foreign rules (compare the two legacy rows; before the poll was cost-based
it was 10.8 % with 20,000 rules, and 2.1-3.1 % with the mangle table read
every second, before the watch set). ${
    idleLegacy.percentOfOneCore > 1
      ? `This run misses 1 %: ${idleLegacy.toolRunsPerSecond.toFixed(2)} process starts a second, at ${f1(a3.startMs)} ms
each in the agent (section 2) plus the tool's own start; see section 17 for the
same measure over 60 s.`
      : ''
  }

## 5. Memory

Resident memory (VmRSS) of a freshly started daemon with a 5,000-node inventory,
idle for 20 s after its first apply: **${f1(rssFresh5k)} MB** (${f1(memory5k.anonMb)} MB anonymous, the
agent's own; ${f1(memory5k.fileMb)} MB file-backed, mostly the code of the node binary read in, shared
with any process running it and dropped by the kernel under memory pressure). Each second from
the first apply: ${rssTimeline5k.map((x) => f0(x)).join(', ')} MB. The drop some
8 s in is V8's memory reducer, which waits that long after activity ends before
it shrinks the heap: the first seconds are not yet idle. After the 70 reconciles and drift repairs of
sections 3 and 4 and 12 s idle: ${f1(daemon5k.rssMb)} MB (3 nodes: ${f1(daemon3.rssMb)} MB).
What keeps it down: a full garbage collection once a reconcile burst is over
(\`src/agent/memory.ts\`), \`--max-semi-space-size=1\` in the daemon's unit (V8
otherwise keeps a young generation of up to 3 × 16 MB after parsing a large
inventory: measured 107 MB without it), \`MALLOC_MMAP_THRESHOLD_=16384\` in the
same line (section 9), and keeping little between reconciles:
the inventory reader keeps the parsed nodes (about 1.5 MB at 5,000 nodes) but
not what is derived from them (that was 3 MB more, and halved the status
server's rate through slower garbage collections; measured by hand: heap 28.6
against 19.6 MB, \`/status\` 3,354 against 6,574 requests/s).${
    rssFresh5k > 80
      ? `

Over the 80 MB goal on Node 24, the runtime the package ships: the file-backed
part alone is ${f1(memory5k.fileMb)} MB, and the agent with a 3-node inventory is at about
80 MB already (section 9, last paragraph). On Node 20, where these benchmarks
ran until 2026-12-03, the same agent measured 74-79 MB (the runs of the last section).`
      : ''
  }

## 6. Packet path

TCP throughput (iperf3, 3 s per run, median of five rounds; the rounds
interleave the four rulesets so that a slow moment of the machine hits all
alike) from a peer that is the last node of a 5,000-node inventory to a node
(the server and the client share the machine's two cores):

${table(
  ['ruleset', 'throughput (median)', 'of no firewall', 'slowest - fastest round'],
  packet.map((p) => [
    p.mode,
    `${p.gbps.toFixed(2)} Gbit/s`,
    `${f1(p.ofNoFirewall * 100)} %`,
    `${p.min.toFixed(2)} - ${p.max.toFixed(2)} Gbit/s`,
  ]),
)}

${throughputVerdict(packet[0]!, ours, packet[3]!)}

artesca-fw accepts established traffic with the first rule it has (before any
address-type lookup) and matches peers in a hash set, so a 5,000-node inventory
costs one set lookup per new connection and two rules per packet after that.
The naive ruleset walks up to 5,000 rules for every packet.

## 7. Status server

\`wrk -t1 -c8 -d5s\` on loopback inside the node's namespace:

${table(
  ['inventory', '/status', '/metrics'],
  [daemon3, daemon5k].map((d) => [`${d.nodes} nodes`, `${f0(d.statusRps)} req/s`, `${f0(d.metricsRps)} req/s`]),
)}

Both read the live rule counters (per-policy packets) at most twice a second,
shared by all requests. The daemon's RSS 15 s after these 10 s of requests as
fast as it answers: ${f1(daemon3.rssAfterStatusLoadMb)} MB with 3 nodes, ${f1(daemon5k.rssAfterStatusLoadMb)} MB with 5,000 (${f1(daemon3.rssMb)} / ${f1(daemon5k.rssMb)} MB before them, section 5).
`;
  // Only its own part: the sections of bench:writers and bench:membership and
  // the hand-written ones after it stay.
  writeSection(START, END, `${START}\n${md.trimEnd()}\n${END}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench failed: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
