// Living beside Calico's Felix during a cutover: a writer that keeps its jumps
// first (Felix's default chainInsertMode Insert) no longer makes the agent
// move its own jump back forever. The agent yields the top after a few
// displacements, keeps its jump present and its policy enforced for what
// reaches it, names the conflict, and once the writer appends instead, the
// conflict clears and nothing moves any more.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProc, until } from '../../scripts/lab/daemon.js';
import { type Peer, ROOT, requireKernelTests } from '../../scripts/lab/netns.js';
import { felixState, loadFelix, startFelixWriter } from '../helpers/felix.js';
import { BASE_CONFIG } from '../helpers/fixtures.js';
import { buildNodeLab, type NodeLab } from '../helpers/node-lab.js';

requireKernelTests();

const VARIANT = ['node', path.join(ROOT, 'dist/scripts/lab/daemon-variant.js')];

/** The built-in chains where both hold a jump: the agent's (ingress, egress) and Felix's. */
const CONTESTED = ['IPv4 mangle PREROUTING', 'IPv4 filter OUTPUT', 'IPv6 mangle PREROUTING', 'IPv6 filter OUTPUT'];

describe('beside a writer that behaves like Felix', () => {
  let L: NodeLab;
  let n1: string;
  let peer: Record<string, Peer>;
  const http = (p: string) => peer['node-1']!.http(`http://127.0.0.1:9900${p}`);
  const status = async () => JSON.parse((await http('/status')).body);
  const chainConflicts = async () =>
    ((await status()).conflicts as { family?: number; table?: string; chain?: string; otherRule?: string }[])
      .filter((c) => c.chain)
      .map((c) => `IPv${c.family} ${c.table} ${c.chain}`)
      .sort();
  const probe = (port: number) => peer['node-2']!.probe('10.100.0.1', port, { timeoutMs: 300 }).then((p) => p.state);
  /** Our jumps in the built-in chains, and whether each is first there. */
  const ourJumps = async () => {
    const out: string[] = [];
    for (const [cmd, family] of [
      ['iptables-nft-save', 'IPv4'],
      ['ip6tables-nft-save', 'IPv6'],
    ] as const) {
      let table = '';
      const seen = new Set<string>();
      for (const line of (await L.lab.must(n1, cmd, [])).split('\n')) {
        if (line.startsWith('*')) {
          table = line.slice(1);
          seen.clear();
        }
        const m = /^-A (PREROUTING|INPUT|OUTPUT|FORWARD) .*-j (AFW-\S+)/.exec(line);
        const chain = /^-A (\S+) /.exec(line)?.[1];
        if (m) out.push(`${family} ${table} ${m[1]} -> ${m[2]}${seen.has(m[1]!) ? '' : ' (first)'}`);
        if (chain) seen.add(chain);
      }
    }
    return out.sort();
  };

  /**
   * Runs `body` beside a writer that behaves like Felix (insert mode), with the
   * daemon started and ready; stops both afterwards, also when the body fails.
   */
  const besideWriter = async (
    args: string[],
    body: (c: { d: DaemonProc; writer: ReturnType<typeof startFelixWriter>; modeFile: string }) => Promise<void>,
    command?: string[],
  ) => {
    const modeFile = path.join(L.dir, 'felix-mode');
    const writer = startFelixWriter(L.lab, n1, modeFile, 'insert');
    const d = new DaemonProc(n1, args, command);
    try {
      await until(async () => (await http('/readyz').catch(() => ({ status: 0 }))).status === 200, 20_000);
      await body({ d, writer, modeFile });
    } finally {
      writer.kill('SIGTERM');
      await d.kill('SIGTERM');
    }
  };

  beforeAll(async () => {
    L = await buildNodeLab({ foreign: false });
    n1 = L.ns['node-1']!;
    peer = { 'node-1': L.lab.peer(n1), 'node-2': L.lab.peer(L.ns['node-2']!) };
    await peer['node-1']!.listen('tcp', 6443, 9999);
    await loadFelix(L.lab, n1);
  });
  afterAll(async () => {
    await L?.cleanup();
  });

  it('insert mode: the agent yields the top after a few displacements and says so; append mode: the conflict clears and nothing moves', async () => {
    const felixBefore = await felixState(L.lab, n1);
    await besideWriter(['--config', L.configFile], async ({ d, modeFile }) => {
      // Settling: the fight over each contested chain ends in a yield.
      const settled = await until(async () => (await chainConflicts()).join() === CONTESTED.slice().sort().join(), 30_000, 200);
      const s = await status();
      for (const c of s.conflicts.filter((x: { chain?: string }) => x.chain)) {
        expect(c.otherRule).toMatch(/cali:afwt-.* -j cali-(PREROUTING|OUTPUT)/);
        expect(c.message).toMatch(/chainInsertMode: Insert.*Append/);
        expect(c.retryAt).toBeTruthy();
      }
      const metrics = (await http('/metrics')).body;
      expect(metrics).toMatch(/artesca_fw_top_of_chain_conflicts\{family="ipv4",table="mangle",chain="PREROUTING"\} 1/);
      expect(metrics).toMatch(/artesca_fw_jump_displacements_total\{family="ipv6",table="filter",chain="OUTPUT"\} [3-9]/);
      expect(d.logs.some((l) => l.event === 'conflict' && /keeps taking the top/.test(l.msg))).toBe(true);
      const check = await L.lab.cli(n1, ['check', '--config', L.configFile]);
      expect(check.code, check.stderr).toBe(0);
      expect(check.stdout).toMatch(
        /WARNING: IPv4 mangle PREROUTING: Calico's Felix keeps its rule first .*chainInsertMode.*Append/,
      );

      // Settled: a few repairs a minute at most (a retry per chain after its backoff), not one per displacement.
      const repairsSettled = s.driftRepairs as number;
      // A bounded wait on purpose: it counts what happens over a fixed time.
      await new Promise((r) => setTimeout(r, 20_000));
      const repairs20s = (await status()).driftRepairs - repairsSettled;
      expect(repairs20s).toBeLessThanOrEqual(CONTESTED.length);
      // Every jump of ours is there (below Felix's), and the policy holds for what reaches it.
      expect(await ourJumps()).toEqual([
        'IPv4 filter OUTPUT -> AFW-OUTPUT',
        'IPv4 mangle PREROUTING -> AFW-PREROUTING',
        'IPv6 filter OUTPUT -> AFW-OUTPUT',
        'IPv6 mangle PREROUTING -> AFW-PREROUTING',
      ]);
      expect(await probe(9999)).toBe('timeout');
      expect(await probe(6443)).toBe('open');
      expect(await felixState(L.lab, n1)).toBe(felixBefore);
      console.log(
        `beside Felix (insert): settled in ${Math.round(settled)} ms after ready, ${repairs20s} repair(s) in the 20 s after; ${s.driftRepairs} before settling`,
      );

      // Felix set to Append: its jumps go last, ours are first again, the conflict clears by itself.
      writeFileSync(modeFile, 'append');
      const cleared = await until(async () => (await chainConflicts()).length === 0, 10_000, 100);
      expect(d.logs.some((l) => l.event === 'conflict' && /no more conflict over the top/.test(l.msg))).toBe(true);
      const repairsAppend = (await status()).driftRepairs as number;
      // A bounded wait on purpose: it proves that nothing moves any more.
      await new Promise((r) => setTimeout(r, 10_000));
      expect((await status()).driftRepairs).toBe(repairsAppend);
      expect(await chainConflicts()).toEqual([]);
      expect(await ourJumps()).toEqual([
        'IPv4 filter OUTPUT -> AFW-OUTPUT (first)',
        'IPv4 mangle PREROUTING -> AFW-PREROUTING (first)',
        'IPv6 filter OUTPUT -> AFW-OUTPUT (first)',
        'IPv6 mangle PREROUTING -> AFW-PREROUTING (first)',
      ]);
      expect((await http('/metrics')).body).toMatch(
        /artesca_fw_top_of_chain_conflicts\{family="ipv4",table="mangle",chain="PREROUTING"\} 0/,
      );
      expect(await probe(9999)).toBe('timeout');
      expect(await probe(6443)).toBe('open');
      expect(await felixState(L.lab, n1)).toBe(felixBefore);
      console.log(
        `beside Felix (append): conflict cleared ${Math.round(cleared)} ms after the switch, no repair in the 10 s after`,
      );
    });
  }, 150_000);

  it('audit mode: /status names the chains where a rule above the jump hides traffic from the audit, until Felix appends', async () => {
    const audit = path.join(L.dir, 'audit.yaml');
    writeFileSync(audit, BASE_CONFIG.replace('mode: enforce', 'mode: audit'));
    const hidden = async () =>
      ((await status()).auditHidden as { family: number; table: string; chain: string; otherRule: string }[])
        .map((h) => `IPv${h.family} ${h.table} ${h.chain}`)
        .sort();
    await besideWriter(['--config', audit], async ({ modeFile }) => {
      await until(async () => (await hidden()).join() === CONTESTED.slice().sort().join(), 30_000, 200);
      const s = await status();
      expect(s.mode).toBe('audit');
      expect(s.auditHidden[0].otherRule).toMatch(/-j cali-/);
      expect(s.auditHidden[0].message).toMatch(/never reaches the audit, and is neither counted nor recorded/);
      const summary = await L.lab.cli(n1, ['status', '--config', audit]);
      expect(summary.stdout).toMatch(
        /WARNING: IPv4 mangle PREROUTING: the rule ".*cali-PREROUTING" stands above artesca-fw's jump/,
      );
      writeFileSync(modeFile, 'append');
      await until(async () => (await hidden()).length === 0, 10_000, 100);
    });
  }, 90_000);

  it('the top is tried again after the backoff, yielded again while the writer insists, and kept once it stops (short timings)', async () => {
    // The contest's window and first backoff at 3 s instead of a minute.
    await besideWriter(
      [L.configFile, '--contest-ms', '3000'],
      async ({ d, writer }) => {
        await until(async () => (await chainConflicts()).length === CONTESTED.length, 30_000, 200);
        const since = d.logs.length;
        // The retry takes the top back (a repair), the writer takes it again: yielded again, backoff doubled.
        const retry = await d.waitFor(
          (l) => l.event === 'apply' && l.reason === 'top of chain' && l.result === 'repaired',
          8000,
          since,
        );
        const again = await d.waitFor(
          (l) => l.event === 'conflict' && /keeps taking the top/.test(l.msg),
          8000,
          d.logs.indexOf(retry),
        );
        expect(Date.parse(String(again.retryAt)) - Date.parse(again.time)).toBeGreaterThan(5000); // 6 s: doubled
        // The writer stops: the next retry keeps the top, and the conflict clears after the quiet window.
        writer.kill('SIGTERM');
        await until(async () => (await chainConflicts()).length === 0, 25_000, 200);
        expect(d.logs.some((l) => l.event === 'conflict' && /kept the top for 3 s after a retry/.test(l.msg))).toBe(true);
        expect((await ourJumps()).every((j) => j.endsWith('(first)'))).toBe(true);
      },
      VARIANT,
    );
  }, 90_000);
});
