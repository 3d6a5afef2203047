// Compile + render time for inventories of growing size (in process, pure code).

import { compile } from '../../src/compile/compile.js';
import { countRuleset } from '../../src/compile/describe.js';
import { planText } from '../../src/compile/plan-text.js';
import { parseConfig } from '../../src/config/validate-config.js';
import { checkCluster, parseInventory } from '../../src/config/validate-inventory.js';
import { ChunkedYamlReader } from '../../src/config/yaml-chunks.js';
import { configText, inventoryText, median } from './fixtures.js';

export interface CompileRow {
  nodes: number;
  loadMs: number;
  /** Load again after a one-node edit, with the daemon's reader (parsed nodes kept by text). */
  reloadMs: number;
  compileRenderMs: number;
  rules: number;
  sets: number;
  setMembers: number;
}

const IFACES = [
  { name: 'cp0', addresses: [{ address: '10.100.0.1', family: 4 as const }] },
  { name: 'wp0', addresses: [{ address: '10.200.0.1', family: 4 as const }] },
];

export function benchCompile(sizes: number[], runs = 15): CompileRow[] {
  const rows: CompileRow[] = [];
  const cfg = parseConfig(configText(), '/etc/artesca-fw/config.yaml', { hostname: 'x' });
  for (const n of sizes) {
    const text = inventoryText(n);
    const loads: number[] = [];
    const compiles: number[] = [];
    let last: ReturnType<typeof compile> | undefined;
    for (let r = 0; r < runs + 1; r++) {
      const t0 = performance.now();
      const inv = parseInventory(text, '/etc/artesca-fw/inventory.yaml');
      checkCluster(cfg, inv);
      const t1 = performance.now();
      last = compile({ config: cfg.config, inventory: inv.inventory, interfaces: IFACES });
      planText(last);
      const t2 = performance.now();
      if (r === 0) continue; // warm-up
      loads.push(t1 - t0);
      compiles.push(t2 - t1);
    }
    // The daemon's case: the same file with one node added, then removed, and so on.
    const reader = new ChunkedYamlReader('nodes');
    const texts = [text, inventoryText(n, [{ name: 'extra', cp: '10.100.254.1', wp: '10.200.254.1' }])];
    const reloads: number[] = [];
    for (let r = 0; r < runs + 1; r++) {
      const t0 = performance.now();
      checkCluster(cfg, parseInventory(texts[r % 2]!, '/etc/artesca-fw/inventory.yaml', reader));
      if (r > 0) reloads.push(performance.now() - t0);
    }
    const counts = countRuleset(last!);
    rows.push({
      nodes: n,
      loadMs: median(loads),
      reloadMs: median(reloads),
      compileRenderMs: median(compiles),
      rules: counts.rules,
      sets: counts.sets,
      setMembers: counts.setMembers,
    });
  }
  return rows;
}
