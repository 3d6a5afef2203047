// Run by bench-runtime (node plan-phases.js CONFIG), one fresh process per
// sample: the steps of `plan` in process, each timed once, cold, as a command
// pays them (nothing compiled by the engine yet). Where the time goes that an
// inventory of thousands of nodes adds. Prints JSON: milliseconds per step,
// and the garbage collections' pauses during them.
import { readFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { compile } from '../../src/compile/compile.js';
import { desiredHash, toDesired } from '../../src/compile/desired.js';
import { planText } from '../../src/compile/plan-text.js';
import { parseConfig } from '../../src/config/validate-config.js';
import { checkCluster, parseInventory } from '../../src/config/validate-inventory.js';

const configFile = process.argv[2]!;
const configText = readFileSync(configFile, 'utf8');
const pauses: { start: number; duration: number }[] = [];
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) pauses.push({ start: e.startTime, duration: e.duration });
});
observer.observe({ entryTypes: ['gc'] });

const times: Record<string, number> = {};
const first = performance.now();
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

// The gc entries arrive after the work: let them in, then count each pause in the step it started in.
setTimeout(() => {
  observer.disconnect();
  const gc = pauses.filter((p) => p.start >= first).reduce((n, p) => n + p.duration, 0);
  process.stdout.write(`${JSON.stringify({ ...times, gc })}\n`);
}, 20);
