// `npm run bench:writers` (root): what the write lock costs in an apply and in
// a no-op reconcile, the packages' sizes, and the boot path (`apply
// --from-state` from process start to rules live) on the packaged runtime
// against the development build. Everything runs in a network namespace made
// here and removed after. Rewrites the section of BENCHMARKS.md between its
// `bench-writers` markers.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median, percentile } from './bench/fixtures.js';
import { runMain, writeSection } from './bench/report.js';
import { kernelTestsBlocked, Lab, ROOT } from './lab/netns.js';

const START = '<!-- bench-writers: written by npm run bench:writers -->';
const END = '<!-- /bench-writers -->';
const RUNS = Number(process.env.BENCH_RUNS ?? 20);

const CONFIG = `apiVersion: artesca-fw/v1
node: { name: node-1, roles: [bootstrap, master, etcd, infra, registry] }
networks: { controlPlane: { cidr: 10.100.0.0/24 }, workloadPlane: { cidr: 10.200.0.0/24 } }
inventory: { file: inventory.yaml }
stateDir: state
`;
const INVENTORY = `apiVersion: artesca-fw/v1
nodes:
  - { name: node-1, roles: [bootstrap, master, etcd, infra, registry], controlPlaneIP: 10.100.0.1, workloadPlaneIP: 10.200.0.1 }
  - { name: node-2, roles: [master, etcd, infra], controlPlaneIP: 10.100.0.2, workloadPlaneIP: 10.200.0.2 }
  - { name: node-3, roles: [], controlPlaneIP: 10.100.0.3, workloadPlaneIP: 10.200.0.3 }
`;

/** Wall time of a process in the namespace, from spawn to exit. */
function timed(ns: string, cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn('nsenter', [`--net=/run/netns/${ns}`, cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('exit', (code) =>
      code === 0 ? resolve(performance.now() - t) : reject(new Error(`${cmd} ${args.join(' ')}: ${err}`)),
    );
  });
}

const ms = (v: number) => `${v.toFixed(1)} ms`;
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;

async function main(): Promise<number> {
  const blocked = kernelTestsBlocked();
  if (blocked) {
    console.error(`bench:writers: ${blocked}`);
    return 1;
  }
  const stage = path.join(ROOT, 'out/stage/usr/lib/artesca-fw');
  const version = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;
  const deb = path.join(ROOT, `out/artesca-fw_${version}_amd64.deb`);
  const rpm = path.join(ROOT, `out/artesca-fw-${version}-1.x86_64.rpm`);
  const lab = new Lab('bw');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'afw-bw-'));
  try {
    const ns = await lab.ns('node');
    const peer = await lab.ns('peer');
    await lab.veth(ns, 'cp0', peer, 'cp0');
    await lab.veth(ns, 'wp0', peer, 'wp0');
    await lab.addr(ns, 'cp0', '10.100.0.1/24');
    await lab.addr(ns, 'wp0', '10.200.0.1/24');
    writeFileSync(path.join(tmp, 'config.yaml'), CONFIG);
    writeFileSync(path.join(tmp, 'inventory.yaml'), INVENTORY);
    const config = path.join(tmp, 'config.yaml');
    const bin = path.join(ROOT, 'bin/artesca-fw');
    await lab.must(ns, bin, ['apply', '--config', config]);
    const state = path.join(tmp, 'state');

    // 1. The lock, in process.
    const worker = JSON.parse(
      await lab.must(ns, process.execPath, [
        path.join(ROOT, 'dist/scripts/bench/lock-worker.js'),
        path.join(state, 'last-good.json'),
        String(RUNS),
      ]),
    ) as Record<'applyLocked' | 'applyBare' | 'noopLocked' | 'noopBare' | 'lock', number[]>;

    // 2. The boot path: apply --from-state after a flush, packaged runtime against the development build.
    const packaged: number[] = [];
    const dev: number[] = [];
    const node = path.join(stage, 'node/bin/node');
    const app = path.join(stage, 'app/bin/artesca-fw.js');
    for (let i = 0; i < RUNS + 1; i++) {
      for (const which of i % 2 ? ['packaged', 'dev'] : ['dev', 'packaged']) {
        await lab.must(ns, bin, ['flush', '--config', config]);
        const t =
          which === 'packaged'
            ? await timed(ns, node, ['--max-semi-space-size=1', app, 'apply', '--from-state', state])
            : await timed(ns, bin, ['apply', '--from-state', state]);
        if (i > 0) (which === 'packaged' ? packaged : dev).push(t);
      }
    }
    const devNode = (await lab.must(ns, process.execPath, ['--version'])).trim();
    const packagedNode = (await lab.must(ns, node, ['--version'])).trim();

    const lockCost = median(worker.lock);
    const rows = [
      '| figure | median | p90 |',
      '|---|---|---|',
      `| take and give back the lock (uncontended) | ${ms(lockCost)} | ${ms(percentile(worker.lock, 90))} |`,
      `| apply from empty, holding the lock | ${ms(median(worker.applyLocked))} | ${ms(percentile(worker.applyLocked, 90))} |`,
      `| apply from empty, without it | ${ms(median(worker.applyBare))} | ${ms(percentile(worker.applyBare, 90))} |`,
      `| no-op reconcile, holding the lock | ${ms(median(worker.noopLocked))} | ${ms(percentile(worker.noopLocked, 90))} |`,
      `| no-op reconcile, without it | ${ms(median(worker.noopBare))} | ${ms(percentile(worker.noopBare, 90))} |`,
    ];
    const boot = [
      '| `apply --from-state`, process start to rules live | median | p90 |',
      '|---|---|---|',
      `| packaged runtime (${packagedNode}, /usr/lib/artesca-fw) | ${ms(median(packaged))} | ${ms(percentile(packaged, 90))} |`,
      `| development build (${devNode}, dist/) | ${ms(median(dev))} | ${ms(percentile(dev, 90))} |`,
    ];
    const size = (f: string) => statSync(f, { throwIfNoEntry: false })?.size ?? 0;
    const installed = Number((await lab.must(ns, 'du', ['-sb', path.join(ROOT, 'out/stage/usr')])).split('\t')[0]);
    const section = [
      START,
      '## 8. Write lock and packaged runtime',
      '',
      `Written by \`npm run bench:writers\` (\`scripts/bench-writers.ts\`) on ${new Date().toISOString().slice(0, 10)}, ${RUNS} runs of each, interleaved, 3-node inventory, in a namespace.`,
      '',
      'Every write (apply, confirm, flush, the rollback watcher, each reconcile of the daemon) holds the write lock of its network namespace (an abstract unix socket). What it costs, measured in process (`scripts/bench/lock-worker.ts`):',
      '',
      ...rows,
      '',
      `The lock adds about ${ms(lockCost)} to a write: ${((lockCost / median(worker.noopBare)) * 100).toFixed(1)} % of a no-op reconcile, ${((lockCost / median(worker.applyBare)) * 100).toFixed(1)} % of an apply from empty. The "holding" and "without" columns differ by more or less than that from run to run: tool starts dominate both.`,
      '',
      'The boot path (`ExecStartPre=apply --from-state`): a fresh process loads the last-known-good ruleset into an empty namespace.',
      '',
      ...boot,
      '',
      `Packages (\`npm run package\`): .deb ${mb(size(deb))}, .rpm ${mb(size(rpm))}; installed ${mb(installed)} (the Node runtime, stripped, is most of it).`,
      END,
    ].join('\n');
    writeSection(START, END, section);
    return 0;
  } finally {
    await lab.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  }
}

runMain(main);
