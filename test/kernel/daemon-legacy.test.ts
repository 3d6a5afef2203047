// The daemon on the iptables-legacy backend, which has no change events: a
// deleted jump, a flushed chain or set must be repaired within 2 s, seen by
// the set check (member and reference counts: every jump and the last rule of
// every chain match the always-empty watch set), and on a host whose filter
// table holds 20,000 other rules the table reads slow down (their cost grows
// with the table) without slowing that down.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { foreignFilterRules } from '../../scripts/bench/fixtures.js';
import { DaemonProc, until } from '../../scripts/lab/daemon.js';
import { requireKernelTests } from '../../scripts/lab/netns.js';
import { BASE_CONFIG } from '../helpers/fixtures.js';
import { buildNodeLab, type NodeLab, ourRules } from '../helpers/node-lab.js';

// Fails at once, naming what is missing, when not root or a tool is not installed.
requireKernelTests();

describe('the daemon on iptables-legacy', () => {
  let L: NodeLab;
  let n1: string;
  let d: DaemonProc;
  const figures: string[] = [];

  beforeAll(async () => {
    L = await buildNodeLab({ foreign: false, config: `${BASE_CONFIG}backend: legacy\n` });
    n1 = L.ns['node-1']!;
    d = new DaemonProc(n1, ['--config', L.configFile]);
    await d.waitFor((l) => l.event === 'apply' && l.reason === 'startup' && l.result === 'applied', 15_000);
  });
  afterAll(async () => {
    await d?.kill('SIGKILL');
    await L?.cleanup();
    if (figures.length) console.log(`legacy daemon figures:\n  ${figures.join('\n  ')}`);
  });

  async function repaired(what: string, cmd: string, args: string[], withinMs: number): Promise<void> {
    const want = await ourRules(L.lab, n1, 'legacy');
    await L.lab.must(n1, cmd, args);
    expect(await ourRules(L.lab, n1, 'legacy')).not.toBe(want);
    const took = await until(async () => (await ourRules(L.lab, n1, 'legacy')) === want, withinMs, 20);
    figures.push(`legacy drift "${what}" repaired in ${Math.round(took)} ms`);
  }

  it('loads into the legacy tables, not nft', async () => {
    expect(await L.lab.must(n1, 'iptables-legacy-save', [])).toContain('-j AFW-PREROUTING');
    expect(await L.lab.must(n1, 'iptables-nft-save', [])).not.toContain('AFW-');
    // No change events on legacy: the drift watcher polls (it starts once the file watcher is up).
    await d.waitFor((l) => l.event === 'drift' && l.mode === 'poll', 5000);
  });

  it('repairs within 2 s: a flushed mangle chain, a deleted filter jump, a flushed set', async () => {
    await repaired('flush AFW-CP-IN', 'iptables-legacy', ['-t', 'mangle', '-F', 'AFW-CP-IN'], 2000);
    await repaired('delete the OUTPUT jump', 'iptables-legacy', ['-t', 'filter', '-D', 'OUTPUT', '1'], 2000);
    await repaired('flush set afw4-cp-all', 'ipset', ['flush', 'afw4-cp-all'], 2000);
  });

  it('with 20,000 other rules in filter: reads filter less often, still repairs a flushed chain or a deleted jump within 2 s', async () => {
    await L.lab.must(n1, 'iptables-legacy-restore', ['--noflush'], { input: foreignFilterRules(20_000) });
    // The foreign INPUT rule went in after ours: the poll sees its own jumps still first, nothing to repair.
    const slowed = await d.waitFor(
      (l) => l.event === 'drift' && typeof l.filterEveryMs === 'number' && l.filterEveryMs > 10_000,
      40_000,
    );
    const every = slowed.filterEveryMs as number;
    figures.push(`filter read with 20,000 rules: ${slowed.filterReadMs} ms, read every ${every} ms`);
    expect(every).toBeLessThanOrEqual(60_000);
    // Filter is read only every tens of seconds now, but a deleted jump or a flushed chain lowers the
    // reference count of a set (the watch set at least), which the set check compares every 1.5 s.
    await repaired('flush AFW-CP-IN (big filter)', 'iptables-legacy', ['-t', 'mangle', '-F', 'AFW-CP-IN'], 2000);
    await repaired('flush AFW-OUTPUT (big filter)', 'iptables-legacy', ['-t', 'filter', '-F', 'AFW-OUTPUT'], 2000);
    await repaired('delete the OUTPUT jump (big filter)', 'iptables-legacy', ['-t', 'filter', '-D', 'OUTPUT', '1'], 2000);
    await repaired('flush the OUTPUT chain (big filter)', 'iptables-legacy', ['-t', 'filter', '-F', 'OUTPUT'], 2000);
    expect(d.logs.some((l) => l.event === 'drift' && /afw4-watch: \d+ references, want \d+/.test(String(l.why)))).toBe(true);
    const save = await L.lab.must(n1, 'iptables-legacy-save', ['-t', 'filter']);
    expect(save.split('\n').filter((l) => l.startsWith('-A FOREIGN ')).length).toBe(20_000);
  });
});
