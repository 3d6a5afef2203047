// `npm run bench:costs` (root): what the running agent costs per operation, at
// 5,000 nodes, on the Node that ships, with the unit's runtime settings:
// - process starts and time of each kind of reconcile, from the daemon's own
//   `apply` log lines (toolRuns, durationMs): the first apply, a reconcile of
//   sources that changed nothing (the inventory rewritten with the same text,
//   as a config manager does), a membership delta (one node added or removed);
// - an idle second: processes started (artesca_fw_tool_runs_total) and CPU,
//   nft and legacy, with 20,000 foreign rules in filter (bench-idle.ts);
// - memory after a burst of requests: RSS and its anonymous part idle, then
//   30 s after 10 s of /status and /metrics requests as fast as it answers.
// Rewrites its section of BENCHMARKS.md.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configText, inventoryText, median, percentile } from './bench/fixtures.js';
import { runMain, writeSection } from './bench/report.js';
import { measureIdle } from './bench-idle.js';
import { DaemonProc, type LogLine } from './lab/daemon.js';
import { buildCluster, kernelTestsBlocked, Lab } from './lab/netns.js';
import { residentMb } from './lab/resident.js';

const START = '<!-- bench-costs: written by npm run bench:costs -->';
const END = '<!-- /bench-costs -->';
const NODES = 5000;
const ROUNDS = 40;
/** The inventory file edit goal is set at this size too. */
const LARGE = 20_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const f1 = (n: number) => (Math.round(n * 10) / 10).toFixed(1);

interface Kind {
  what: string;
  lines: LogLine[];
  /** From the write of the file to the log line (delta: event to live). */
  eventToLive: number[];
}

async function measureDaemon(
  nodes: number,
  rounds: number,
): Promise<{ kinds: Kind[]; burst: Record<string, { rss: number; anon: number }> }> {
  const lab = new Lab('cost');
  const dir = path.join(os.tmpdir(), lab.id);
  let d: DaemonProc | undefined;
  try {
    const ns = (await buildCluster(lab, [{ name: 'node', cp: ['10.100.0.1/16'], wp: ['10.200.0.1/16'] }])).node!;
    mkdirSync(dir, { recursive: true });
    const inv = path.join(dir, 'inventory.yaml');
    const texts = [inventoryText(nodes), inventoryText(nodes, [{ name: 'extra', cp: '10.100.254.1', wp: '10.200.254.1' }])];
    writeFileSync(inv, texts[0]!);
    writeFileSync(path.join(dir, 'config.yaml'), configText());
    d = new DaemonProc(ns, ['--config', path.join(dir, 'config.yaml')]);
    const first = await d.waitFor((l) => l.event === 'apply' && l.reason === 'startup', 60_000);
    await d.waitFor((l) => l.event === 'startup' && /watching/.test(String(l.msg)), 30_000);
    await sleep(3000);
    const noop: Kind = { what: 'sources unchanged (same inventory text rewritten)', lines: [], eventToLive: [] };
    const delta: Kind = { what: 'membership delta (one node added or removed)', lines: [], eventToLive: [] };
    for (let i = -3; i < rounds; i++) {
      for (const [kind, text, result] of [
        [noop, texts[0]!, 'noop'],
        [delta, texts[1]!, 'applied'],
        [delta, texts[0]!, 'applied'],
      ] as const) {
        const since = d.logs.length;
        const t = performance.now();
        writeFileSync(inv, text);
        const line = await d.waitFor(
          (l) => l.event === 'apply' && l.reason === 'file change' && l.result === result,
          15_000,
          since,
        );
        if (i >= 0) {
          kind.lines.push(line);
          kind.eventToLive.push(performance.now() - t);
        }
        await sleep(150);
      }
    }
    const kinds = [{ what: 'first apply (startup)', lines: [first], eventToLive: [] }, noop, delta];
    if (nodes !== NODES) return { kinds, burst: {} };
    // Memory: idle, then a burst of requests, then 30 s.
    await sleep(15_000);
    const pid = d.proc.pid!;
    const burst: Record<string, { rss: number; anon: number }> = { idle: residentMb(pid) };
    for (const url of ['http://127.0.0.1:9900/status', 'http://127.0.0.1:9900/metrics']) {
      const r = await lab.exec(ns, 'wrk', ['-t1', '-c8', '-d5s', url]);
      if (r.code !== 0) throw new Error(`wrk: ${r.stderr}`);
    }
    burst.end = residentMb(pid);
    let waited = 0;
    for (const s of [5, 15, 30]) {
      await sleep((s - waited) * 1000);
      waited = s;
      burst[`+${s} s`] = residentMb(pid);
    }
    return { kinds, burst };
  } finally {
    await d?.kill('SIGKILL');
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const blocked = kernelTestsBlocked();
  if (blocked) {
    console.error(blocked);
    return 1;
  }
  const { kinds, burst } = await measureDaemon(NODES, ROUNDS);
  const large = await measureDaemon(LARGE, 20);
  const idleNft = await measureIdle(60, 20_000, 'nft', NODES);
  const idleLegacy = await measureIdle(60, 20_000, 'legacy', NODES);
  const row = (k: Kind) => {
    const runs = k.lines.map((l) => Number(l.toolRuns));
    const ms = k.lines.map((l) => Number(l.durationMs));
    const via = [...new Set(k.lines.map((l) => String(l.via)))].join(', ');
    const live = k.eventToLive.length
      ? `${Math.round(percentile(k.eventToLive, 50))} / ${Math.round(percentile(k.eventToLive, 99))} ms`
      : '';
    return `| ${k.what} | ${k.lines.length} | ${via} | ${median(runs)} (max ${Math.max(...runs)}) | ${f1(median(ms))} / ${f1(percentile(ms, 99))} ms | ${live} |`;
  };
  const [, noop, delta] = kinds;
  const noopMs = percentile(
    noop!.lines.map((l) => Number(l.durationMs)),
    50,
  );
  const largeEditP99 = percentile(large.kinds[2]!.eventToLive, 99);
  const noopRuns = Math.max(...noop!.lines.map((l) => Number(l.toolRuns)));
  const after = burst['+30 s']!;
  const idle = burst.idle!;
  const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');
  const section = [
    START,
    '## 17. What the running agent costs per operation',
    '',
    `\`npm run bench:costs\` (\`scripts/bench-costs.ts\`), ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, the unit's runtime settings, ${NODES.toLocaleString('en')} nodes, nft unless said. Each reconcile's figures come from the daemon's own \`apply\` log line: \`toolRuns\` (processes it started) and \`durationMs\` (from the reconcile's start to its log line); "write to log line" is from the inventory written on disk (the file event's 50 ms debounce included). ${ROUNDS} rounds of each, after 3 not counted.`,
    '',
    '| reconcile | count | via | processes started (median) | durationMs p50 / p99 | write to log line p50 / p99 |',
    '|---|---|---|---|---|---|',
    ...kinds.map(row),
    '',
    `The same at ${LARGE.toLocaleString('en')} nodes (20 rounds):`,
    '',
    '| reconcile | count | via | processes started (median) | durationMs p50 / p99 | write to log line p50 / p99 |',
    '|---|---|---|---|---|---|',
    ...large.kinds.map(row),
    '',
    `Idle, 60 s after settling, 20,000 foreign rules in filter (\`scripts/bench-idle.ts\`; CPU of the agent and its children; "agent" is its own process, Node, which forks for each tool):`,
    '',
    '| backend | processes started / s | CPU, % of one core | of which the agent | RSS |',
    '|---|---|---|---|---|',
    ...[idleNft, idleLegacy].map(
      (r) =>
        `| ${r.backend} | ${r.toolRunsPerSecond.toFixed(2)} | ${r.percentOfOneCore.toFixed(2)} % | ${r.agentPercent.toFixed(2)} % | ${f1(r.rssMb)} MB |`,
    ),
    '',
    'Memory around a burst of requests (`wrk -t1 -c8 -d5s` on /status, then on /metrics; RSS and, in brackets, its anonymous part):',
    '',
    `| ${Object.keys(burst).join(' | ')} |`,
    `|${Object.keys(burst)
      .map(() => '---')
      .join('|')}|`,
    `| ${Object.values(burst)
      .map((m) => `${f1(m.rss)} MB (${f1(m.anon)})`)
      .join(' | ')} |`,
    '',
    'Goals of this section:',
    '',
    '| figure | goal | measured |  |',
    '|---|---|---|---|',
    `| no-op reconcile, ${NODES.toLocaleString('en')} nodes | ≤ 10 ms | ${f1(noopMs)} ms | ${verdict(noopMs <= 10)} |`,
    `| processes started per no-op reconcile (nft) | 0 | ${noopRuns} | ${verdict(noopRuns === 0)} |`,
    `| inventory file edit to live, ${LARGE.toLocaleString('en')} nodes, p99 | ≤ 250 ms | ${Math.round(largeEditP99)} ms | ${verdict(largeEditP99 <= 250)} |`,
    `| processes started per delta | (counted) | ${median(delta!.lines.map((l) => Number(l.toolRuns)))} | |`,
    `| idle CPU, nft, 20,000 foreign rules | ≤ 0.5 % | ${idleNft.percentOfOneCore.toFixed(2)} % | ${verdict(idleNft.percentOfOneCore <= 0.5)} |`,
    `| idle CPU, legacy, 20,000 foreign rules | ≤ 1 % | ${idleLegacy.percentOfOneCore.toFixed(2)} % | ${verdict(idleLegacy.percentOfOneCore <= 1)} |`,
    `| RSS 30 s after the burst | within 10 MB of idle | ${f1(after.rss - idle.rss)} MB | ${verdict(after.rss - idle.rss <= 10)} |`,
    END,
  ].join('\n');
  writeSection(START, END, section);
  return 0;
}

runMain(main);
