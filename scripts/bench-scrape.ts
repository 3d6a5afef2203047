// `npm run bench:scrape` (root): what the cluster's Prometheus costs the
// agent (metrics.listen). For a 3-node and a 5,000-node inventory, one agent
// in a namespace: the time and bytes of one scrape of /metrics on the
// control-plane listener (median of SCRAPES sequential scrapes, and the
// agent's CPU per scrape); then idle windows without scrapes and with one
// scrape every 15 s, interleaved (A B A B), the agent's CPU and RSS at the end
// of each. Rewrites its section of BENCHMARKS.md.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configText, inventoryText, median } from './bench/fixtures.js';
import { runMain, writeTableSection } from './bench/report.js';
import { treeCpu } from './bench-idle.js';
import { DaemonProc } from './lab/daemon.js';
import { buildCluster, kernelTestsBlocked, Lab } from './lab/netns.js';
import { residentMb } from './lab/resident.js';

const START = '<!-- bench-scrape: written by npm run bench:scrape -->';
const END = '<!-- /bench-scrape -->';
const SCRAPES = 30;
const WINDOW_S = 45;
const EVERY_S = 15;
const URL = 'http://10.100.0.1:9901/metrics';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(nodes: number): Promise<string[]> {
  const lab = new Lab('scr');
  const dir = path.join(os.tmpdir(), lab.id);
  let daemon: DaemonProc | undefined;
  try {
    const ns = (await buildCluster(lab, [{ name: 'node', cp: ['10.100.0.1/16'], wp: ['10.200.0.1/16'] }])).node!;
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'inventory.yaml'), inventoryText(nodes));
    writeFileSync(path.join(dir, 'config.yaml'), configText({ extra: { metrics: { listen: ':9901' } } }));
    daemon = new DaemonProc(ns, ['--config', path.join(dir, 'config.yaml')]);
    await daemon.waitFor((l) => l.event === 'metrics', 60_000);
    await sleep(3000);
    const pid = daemon.proc.pid!;
    const peer = lab.peer(ns);
    // One scrape: as Prometheus asks, sequentially.
    const times: number[] = [];
    let bytes = 0;
    const cpu0 = treeCpu(pid);
    for (let i = 0; i < SCRAPES; i++) {
      const t = performance.now();
      const r = await peer.http(URL);
      times.push(performance.now() - t);
      if (r.status !== 200) throw new Error(`scrape: ${r.status}`);
      bytes = Buffer.byteLength(r.body);
    }
    const cpuPerScrape = ((treeCpu(pid) - cpu0) / SCRAPES) * 1000;
    await sleep(5000);
    // Idle, without and with a scrape every 15 s, interleaved.
    const windows: { scraped: boolean; cpu: number; rss: number; anon: number }[] = [];
    for (const scraped of [false, true, false, true]) {
      const before = treeCpu(pid);
      const t0 = performance.now();
      while (performance.now() - t0 < WINDOW_S * 1000) {
        if (scraped) await peer.http(URL);
        await sleep(Math.min(EVERY_S * 1000, WINDOW_S * 1000 - (performance.now() - t0)));
      }
      const m = residentMb(pid);
      windows.push({ scraped, cpu: (100 * (treeCpu(pid) - before)) / WINDOW_S, rss: m.rss, anon: m.anon });
    }
    const pick = (s: boolean) => windows.filter((w) => w.scraped === s);
    const fmt = (ws: typeof windows, f: (w: (typeof windows)[number]) => number, d: number) =>
      ws.map((w) => f(w).toFixed(d)).join(', ');
    return [
      `| ${nodes} | one scrape: ${median(times).toFixed(1)} ms (median of ${SCRAPES}), ${(bytes / 1024).toFixed(1)} KiB, agent CPU ${cpuPerScrape.toFixed(1)} ms |`,
      `| ${nodes} | idle CPU, no scrape / a scrape every ${EVERY_S} s: ${fmt(pick(false), (w) => w.cpu, 2)} % / ${fmt(pick(true), (w) => w.cpu, 2)} % of one core |`,
      `| ${nodes} | RSS (anonymous) at each window's end, no scrape / scraped: ${fmt(pick(false), (w) => w.rss, 1)} (${fmt(pick(false), (w) => w.anon, 1)}) / ${fmt(pick(true), (w) => w.rss, 1)} (${fmt(pick(true), (w) => w.anon, 1)}) MB |`,
    ];
  } finally {
    await daemon?.kill('SIGKILL');
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const blocked = kernelTestsBlocked();
  if (blocked) throw new Error(blocked);
  const rows = [...(await measure(3)), ...(await measure(5000))];
  for (const r of rows) console.log(r);
  writeTableSection(
    { start: START, end: END },
    '## 14. The scrape endpoint (metrics.listen)',
    `\`npm run bench:scrape\` (\`scripts/bench-scrape.ts\`), ${new Date().toISOString().slice(0, 10)}, Node ${process.version}. One agent in a namespace with \`metrics.listen: ":9901"\`, scraped on its control-plane address from its own namespace (the firewall is not on that path; the cost is the agent's). Idle windows of ${WINDOW_S} s, interleaved: without scrapes, then with one every ${EVERY_S} s (Prometheus's default interval), twice; the CPU is the agent's and its children's. Goal: one scrape costs milliseconds, and a scrape every 15 s does not move idle CPU or RSS beyond the spread between windows of the same kind.`,
    ['inventory nodes', 'figure'],
    rows,
  );
  return 0;
}

runMain(main);
