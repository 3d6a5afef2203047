// Run by bench-runtime in a fresh process per sample: the steps of `plan` in
// process, each run once, cold, as a command pays them (nothing compiled by
// the engine yet). Where the time goes that an inventory of thousands of nodes
// adds.
//
//   node plan-phases.js CONFIG                milliseconds per step, and the
//                                             collections' pauses during them
//   node plan-phases.js CONFIG --allocations  megabytes allocated by the steps
//                                             (what was collected included),
//                                             and the part js-yaml allocated
// Prints JSON.
import { readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { PerformanceObserver } from 'node:perf_hooks';
import { compile } from '../../src/compile/compile.js';
import { desiredHash, toDesired } from '../../src/compile/desired.js';
import { planText } from '../../src/compile/plan-text.js';
import { parseConfig } from '../../src/config/validate-config.js';
import { checkCluster, parseInventory } from '../../src/config/validate-inventory.js';

const configFile = process.argv[2]!;
const configText = readFileSync(configFile, 'utf8');

/** plan's steps, each timed. */
function runSteps(): Record<string, number> {
  const times: Record<string, number> = {};
  function step<T>(name: string, fn: () => T): T {
    const t = performance.now();
    const out = fn();
    times[name] = performance.now() - t;
    return out;
  }
  const cfg = step('config', () => parseConfig(configText, configFile, { hostname: 'bench' }));
  const inventoryText = readFileSync(cfg.config.inventoryFile, 'utf8');
  const inv = step('inventory', () => parseInventory(inventoryText, cfg.config.inventoryFile));
  step('cluster', () => checkCluster(cfg, inv));
  const ruleset = step('compile', () =>
    compile({
      config: cfg.config,
      inventory: inv.inventory,
      interfaces: [{ name: 'lo', addresses: [] }],
      overrides: { controlPlane: 'lo', workloadPlane: 'lo' },
    }),
  );
  const hash = step('desired', () => desiredHash(toDesired(ruleset)));
  step('text', () => planText(ruleset, hash));
  return times;
}

interface SampleNode {
  callFrame: { url: string };
  selfSize: number;
  children: SampleNode[];
}

/** The sampling heap profiler, told to keep what collections free, over the steps. */
async function allocations(): Promise<{ allocatedMb: number; jsYamlMb: number }> {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 1024,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  runSteps();
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: SampleNode } };
  session.disconnect();
  let all = 0;
  let yaml = 0;
  const walk = (n: SampleNode) => {
    all += n.selfSize;
    if (n.callFrame.url.includes('/js-yaml/')) yaml += n.selfSize;
    for (const c of n.children) walk(c);
  };
  walk(profile.head);
  return { allocatedMb: all / 2 ** 20, jsYamlMb: yaml / 2 ** 20 };
}

if (process.argv[3] === '--allocations') {
  process.stdout.write(`${JSON.stringify(await allocations())}\n`);
} else {
  const pauses: { start: number; duration: number }[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) pauses.push({ start: e.startTime, duration: e.duration });
  });
  observer.observe({ entryTypes: ['gc'] });
  const first = performance.now();
  const times = runSteps();
  // The gc entries arrive after the work: let them in.
  setTimeout(() => {
    observer.disconnect();
    const gc = pauses.filter((p) => p.start >= first).reduce((n, p) => n + p.duration, 0);
    process.stdout.write(`${JSON.stringify({ ...times, gc })}\n`);
  }, 20);
}
