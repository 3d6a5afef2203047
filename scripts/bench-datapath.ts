// `npm run bench:datapath` (root): throughput of an established TCP stream
// (iperf3) through artesca-fw with a 5,000-node inventory, against no
// firewall, a naive one-rule-per-peer firewall and the stateful floor
// (conntrack and one rule accepting established packets), in interleaved
// rounds so that a slow moment of the machine hits every mode alike.
// Rewrites its section of BENCHMARKS.md.
import { benchPacketPath } from './bench/kernel-bench.js';
import { runMain, writeTableSection } from './bench/report.js';
import { kernelTestsBlocked } from './lab/netns.js';

const START = '<!-- bench-datapath: written by npm run bench:datapath -->';
const END = '<!-- /bench-datapath -->';
const NODES = 5000;
const SECONDS = 3;
const ROUNDS = 9;

async function main(): Promise<number> {
  const blocked = kernelTestsBlocked();
  if (blocked) throw new Error(blocked);
  const rows = await benchPacketPath(NODES, SECONDS, ROUNDS);
  const ours = rows[1]!;
  const floor = rows[3]!;
  const points = (100 * (floor.gbps - ours.gbps)) / rows[0]!.gbps;
  const table = rows.map(
    (r) =>
      `| ${r.mode} | ${r.gbps.toFixed(2)} | ${(100 * r.ofNoFirewall).toFixed(1)} % | ${r.min.toFixed(2)} to ${r.max.toFixed(2)} |`,
  );
  for (const r of table) console.log(r);
  console.log(`artesca-fw ${Math.abs(points).toFixed(1)} points ${points > 0 ? 'below' : 'above'} the stateful floor`);
  writeTableSection(
    { start: START, end: END },
    '## 15. The data path: established packets',
    `\`npm run bench:datapath\` (\`scripts/bench-datapath.ts\`), ${new Date().toISOString().slice(0, 10)}, Node ${process.version}. iperf3 (${SECONDS} s per round, one stream) from the last peer of a ${NODES}-node inventory to the node, ${ROUNDS} interleaved rounds of the four modes, medians and each mode's spread. Since this version the jumps into artesca-fw's chains match only packets that are not of an established or related connection, so an established packet meets one rule of ours per built-in chain and nothing else. Goal: within 1 point of "conntrack only" (the stateful floor). This run: artesca-fw at ${(100 * ours.ofNoFirewall).toFixed(1)} % of no firewall, the floor at ${(100 * floor.ofNoFirewall).toFixed(1)} %: ${Math.abs(points).toFixed(1)} points ${points > 0 ? 'below' : 'above'} it (${points <= 1 ? 'met' : 'missed'}; the spreads of the rounds show how much of a difference this size is the machine).`,
    ['mode', 'Gbit/s (median)', 'of no firewall', 'slowest to fastest round'],
    table,
  );
  return 0;
}

runMain(main);
