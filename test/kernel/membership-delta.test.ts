// Membership deltas at 5,000 nodes: one node added to the inventory and
// removed again, 100 times, each change loaded by the daemon as a delta of
// set members (one `ipset restore`, nothing read first); after each, the live
// set holds exactly what it should, and every tenth time (and at the end)
// `artesca-fw diff` finds what is live equal to what is desired. A delta the
// kernel refuses (the set changed behind the agent's back) falls back to the
// whole-ruleset reconcile, which succeeds.
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configText, inventoryText } from '../../scripts/bench/fixtures.js';
import { DaemonProc } from '../../scripts/lab/daemon.js';
import { buildCluster, Lab, requireKernelTests } from '../../scripts/lab/netns.js';

requireKernelTests();

const NODES = 5000;
const EXTRA = { name: 'node-extra', cp: '10.100.250.250', wp: '10.200.250.250' };
const ROUNDS = 100;

describe(`membership deltas at ${NODES} nodes`, () => {
  const lab = new Lab('mdl');
  const dir = path.join(os.tmpdir(), lab.id);
  let ns: string;
  let d: DaemonProc;
  const config = path.join(dir, 'config.yaml');
  /** Written as a config manager should: a temporary file renamed over (a half-written file could parse). */
  const inventory = (withExtra: boolean) => {
    writeFileSync(path.join(dir, 'inventory.yaml.tmp'), inventoryText(NODES, withExtra ? [EXTRA] : []));
    renameSync(path.join(dir, 'inventory.yaml.tmp'), path.join(dir, 'inventory.yaml'));
  };
  const inAllSet = async () => /^add afw4-cp-all 10\.100\.250\.250$/m.test(await lab.must(ns, 'ipset', ['save', 'afw4-cp-all']));
  /**
   * The next load after `since`. A reconcile that found nothing to write is not it: the 10 s content
   * check may start one right after a change the watcher already brought.
   */
  const nextApply = (since: number) =>
    d.waitFor(
      (l) => l.event === 'apply' && l.reason === 'file change' && l.result !== undefined && l.result !== 'noop',
      15_000,
      since,
    );
  const diff = async () => (await lab.cli(ns, ['diff', '--config', config])).code;

  beforeAll(async () => {
    ns = (await buildCluster(lab, [{ name: 'node', cp: ['10.100.0.1/16'], wp: ['10.200.0.1/16'] }])).node!;
    mkdirSync(dir, { recursive: true });
    inventory(false);
    writeFileSync(config, configText());
    d = new DaemonProc(ns, ['--config', config]);
    await d.waitFor((l) => l.event === 'apply' && l.reason === 'startup', 60_000);
    await d.waitFor((l) => l.event === 'startup' && /watching/.test(String(l.msg)), 30_000);
  }, 120_000);
  afterAll(async () => {
    await d?.kill('SIGKILL');
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a node added and removed 100 times: each a delta, the live sets right after each, diff clean', async () => {
    const loads: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      for (const added of [true, false]) {
        const since = d.logs.length;
        inventory(added);
        const line = await nextApply(since);
        expect(line, `round ${i} ${added ? 'add' : 'remove'}: ${JSON.stringify(line)}`).toMatchObject({
          result: 'applied',
          via: 'delta',
          chainsRewritten: [],
        });
        loads.push(Number(line.loadMs));
        expect(await inAllSet()).toBe(added);
        if (i % 10 === 0 || i === ROUNDS - 1) expect(await diff(), `diff after round ${i}`).toBe(0);
      }
    }
    // The load is one ipset process with a few lines, whatever the cluster's size.
    loads.sort((a, b) => a - b);
    console.log(`membership delta at ${NODES} nodes: load p50 ${loads[loads.length >> 1]} ms, max ${loads.at(-1)} ms`);
  }, 600_000);

  it('a delta the kernel refuses (the member already there) falls back to the whole reconcile, which succeeds', async () => {
    // Someone adds the member behind the agent's back: the delta's "add" is refused.
    await lab.must(ns, 'ipset', ['add', 'afw4-cp-all', EXTRA.cp]);
    const since = d.logs.length;
    inventory(true);
    await d.waitFor((l) => l.event === 'apply' && /membership delta refused/.test(String(l.msg)), 15_000, since);
    const line = await nextApply(since);
    expect(line).toMatchObject({ result: 'applied', via: 'full' });
    expect(await inAllSet()).toBe(true);
    expect(await diff()).toBe(0);
    // And the next change is a delta again.
    const after = d.logs.length;
    inventory(false);
    expect(await nextApply(after)).toMatchObject({ result: 'applied', via: 'delta' });
    expect(await inAllSet()).toBe(false);
    expect(await diff()).toBe(0);
  }, 60_000);
});
