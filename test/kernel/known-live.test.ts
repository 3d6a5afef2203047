// The ruleset known live (src/known-live/): on nft, once a read has shown the
// ruleset live, a reconcile of unchanged sources reads nothing and starts no
// process, for as long as nft monitor reports no change by someone else; a
// change by someone else (heard) or to a set (found by the set check) makes
// the next reconcile read, and the rules are put back as before.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProc } from '../../scripts/lab/daemon.js';
import { requireKernelTests } from '../../scripts/lab/netns.js';
import { BASE_INVENTORY } from '../helpers/fixtures.js';
import { buildNodeLab, type NodeLab, ourRules } from '../helpers/node-lab.js';

requireKernelTests();

describe('the ruleset known live (nft)', () => {
  let L: NodeLab;
  let n1: string;
  let d: DaemonProc;

  beforeAll(async () => {
    L = await buildNodeLab();
    n1 = L.ns['node-1']!;
    d = new DaemonProc(n1, ['--config', L.configFile]);
    await d.waitFor((l) => l.event === 'startup' && /watching/.test(String(l.msg)), 20_000);
  }, 60_000);
  afterAll(async () => {
    await d?.kill('SIGKILL');
    await L?.cleanup();
  });

  /** Rewrites the inventory with the same text; returns the reconcile's log line. */
  async function rewriteSame() {
    const since = d.logs.length;
    L.writeInventory(BASE_INVENTORY);
    return d.waitFor((l) => l.event === 'apply' && l.reason === 'file change', 10_000, since);
  }

  it('unchanged sources: nothing read, nothing written, no process started', async () => {
    const line = await rewriteSame();
    expect(line).toMatchObject({ result: 'noop', via: 'known', toolRuns: 0 });
  });

  it('a rule changed by someone else: heard, repaired, and known live again after the repair', async () => {
    const want = await ourRules(L.lab, n1, 'nft');
    const since = d.logs.length;
    await L.lab.must(n1, 'iptables-nft', ['-t', 'mangle', '-F', 'AFW-CP-IN']);
    await d.waitFor((l) => l.event === 'apply' && l.result === 'repaired', 5000, since);
    expect(await ourRules(L.lab, n1, 'nft')).toBe(want);
    expect(await rewriteSame()).toMatchObject({ result: 'noop', via: 'known', toolRuns: 0 });
  });

  it('a set emptied (no event): the set check doubts, the next reconcile reads and puts it back', async () => {
    const since = d.logs.length;
    await L.lab.must(n1, 'ipset', ['flush', 'afw4-cp-all']);
    await d.waitFor((l) => l.event === 'drift' && /set afw4-cp-all: 0 members/.test(String(l.why)), 5000, since);
    await d.waitFor((l) => l.event === 'apply' && l.result === 'repaired', 5000, since);
    expect(await L.lab.must(n1, 'ipset', ['list', 'afw4-cp-all'])).toMatch(/10\.100\.0\.2/);
    expect(await rewriteSame()).toMatchObject({ via: 'known', toolRuns: 0 });
  });

  it('a changed inventory is still loaded (and read) as before', async () => {
    const since = d.logs.length;
    L.writeInventory(
      BASE_INVENTORY.replace(
        /\n$/,
        '\n  - name: node-4\n    roles: []\n    controlPlaneIP: 10.100.0.4\n    workloadPlaneIP: 10.200.0.4\n',
      ),
    );
    const line = await d.waitFor(
      (l) => l.event === 'apply' && l.reason === 'file change' && l.result === 'applied',
      10_000,
      since,
    );
    expect(line.via).toBe('delta');
    expect(await L.lab.must(n1, 'ipset', ['list', 'afw4-cp-all'])).toMatch(/10\.100\.0\.4/);
    const back = d.logs.length;
    L.writeInventory(BASE_INVENTORY);
    await d.waitFor((l) => l.event === 'apply' && l.reason === 'file change' && l.result === 'applied', 10_000, back);
    expect(await L.lab.must(n1, 'ipset', ['list', 'afw4-cp-all'])).not.toMatch(/10\.100\.0\.4/);
  });
});
