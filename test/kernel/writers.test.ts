// Many writers, one firewall: applies of two configs at once, apply against
// flush, confirm against an expiring trial, the daemon against an operator's
// applies, another tool inserting rules while we fix our jumps, and applies
// killed with SIGKILL at random moments. After each: the live ruleset is one
// that a writer reported, one jump per built-in chain, no temporary set.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProc, until } from '../../scripts/lab/daemon.js';
import { BIN, type Peer, ROOT, requireKernelTests } from '../../scripts/lab/netns.js';
import { BASE_CONFIG, BASE_INVENTORY, edit } from '../helpers/fixtures.js';
import { buildNodeLab, foreignState, type NodeLab } from '../helpers/node-lab.js';

// Fails at once, naming what is missing, when not root or a tool is not installed.
requireKernelTests();

const NODE4 = '  - name: node-4\n    roles: [etcd]\n    controlPlaneIP: 10.100.0.4\n    workloadPlaneIP: 10.200.0.4\n';
const CONFIG_B = edit(BASE_CONFIG, [['file: inventory.yaml', 'file: inventory-b.yaml']]);
const REJECT = edit(BASE_CONFIG, [['denyAction: drop', 'denyAction: reject']]);

interface Exit {
  code: number;
  at: number;
  stderr: string;
}

// Each test runs tens of rounds of real writers: minutes, not the default minute.
describe('many writers, one firewall', { timeout: 300_000 }, () => {
  let L: NodeLab;
  let n1: string;
  let a: string;
  let b: string;
  let peer: Record<string, Peer>;
  let foreign: string;

  const cli = (...args: string[]) => L.lab.cli(n1, args);
  /** A writer as its own process (nsenter execs, so the PID is the agent's own): its exit code and when it ended. */
  const writer = (args: string[], killAfterMs?: number): Promise<Exit> =>
    new Promise((resolve) => {
      const child = spawn('nsenter', [`--net=/run/netns/${n1}`, BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      if (killAfterMs !== undefined) setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      child.on('exit', (code, signal) => resolve({ code: code ?? (signal ? 137 : 1), at: performance.now(), stderr }));
    });
  const equals = async (config: string) => (await cli('diff', '--config', config)).code === 0;
  const nothingOfOurs = async () => {
    const save = (await L.lab.must(n1, 'iptables-nft-save', [])) + (await L.lab.must(n1, 'ip6tables-nft-save', []));
    const sets = await L.lab.must(n1, 'ipset', ['list', '-n']);
    return !save.includes('AFW-') && !/^afw/m.test(sets);
  };
  /** How many jumps into our chains each built-in chain holds, and whether ours is first. */
  const jumps = async () => {
    const out: Record<string, { count: number; first: boolean }> = {};
    for (const table of ['mangle', 'filter']) {
      const lines = (await L.lab.must(n1, 'iptables-nft-save', ['-t', table])).split('\n');
      for (const builtin of ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT']) {
        const rules = lines.filter((l) => l.startsWith(`-A ${builtin} `));
        const ours = rules.filter((l) => /-j AFW-/.test(l));
        if (ours.length) out[`${table}/${builtin}`] = { count: ours.length, first: /-j AFW-/.test(rules[0] ?? '') };
      }
    }
    return out;
  };
  const tempSets = async () => (await L.lab.must(n1, 'ipset', ['list', '-n'])).split('\n').filter((n) => n.endsWith('-swp'));
  const probe = (from: string, port: number) => peer[from]!.probe('10.100.0.1', port, { timeoutMs: 300 }).then((p) => p.state);

  beforeAll(async () => {
    L = await buildNodeLab();
    n1 = L.ns['node-1']!;
    a = L.configFile;
    b = path.join(L.dir, 'config-b.yaml');
    writeFileSync(b, CONFIG_B);
    writeFileSync(path.join(L.dir, 'inventory-b.yaml'), BASE_INVENTORY + NODE4);
    peer = { 'node-1': L.lab.peer(n1), 'node-2': L.lab.peer(L.ns['node-2']!) };
    await peer['node-1']!.listen('tcp', 6443, 9999);
    foreign = await foreignState(L.lab, n1);
  });
  afterAll(async () => {
    await L?.cleanup();
  });

  it('two applies of two configs at once, 10 rounds from empty and 10 from loaded: the last one to finish is live, whole', async () => {
    for (let round = 0; round < 20; round++) {
      if (round < 10) expect((await cli('flush', '--config', a)).code).toBe(0);
      else expect((await cli('apply', '--config', round % 2 ? a : b)).code).toBe(0);
      const [ra, rb] = await Promise.all([writer(['apply', '--config', a]), writer(['apply', '--config', b])]);
      expect(ra.code, ra.stderr).toBe(0);
      expect(rb.code, rb.stderr).toBe(0);
      // The lock is held until a writer exits: the one that ended last wrote last.
      const last = ra.at > rb.at ? a : b;
      expect(await equals(last), `round ${round}: the config of the apply that ended last is live`).toBe(true);
      expect(await jumps()).toEqual({
        'mangle/PREROUTING': { count: 1, first: true },
        'filter/OUTPUT': { count: 1, first: true },
      });
      expect(await tempSets()).toEqual([]);
    }
    expect(await foreignState(L.lab, n1)).toBe(foreign);
  });

  it('apply against flush: whoever ends last wins, and nothing is left half-done', async () => {
    const outcomes = new Set<string>();
    for (let round = 0; round < 10; round++) {
      const [rf, ra] = await Promise.all([writer(['flush', '--config', a]), writer(['apply', '--config', round % 2 ? a : b])]);
      expect(rf.code, rf.stderr).toBe(0);
      expect(ra.code, ra.stderr).toBe(0);
      if (rf.at > ra.at) {
        outcomes.add('flush last');
        expect(await nothingOfOurs()).toBe(true);
      } else {
        outcomes.add('apply last');
        expect(await equals(round % 2 ? a : b)).toBe(true);
        expect(Object.values(await jumps()).every((j) => j.count === 1 && j.first)).toBe(true);
      }
      expect(await tempSets()).toEqual([]);
    }
    expect(await foreignState(L.lab, n1)).toBe(foreign);
    console.log(`apply against flush: ${[...outcomes].join(', ')}`);
  });

  it('confirm against an expiring trial, both orders: "confirmed" only when the trial is live and recorded', async () => {
    const seen = { confirmed: 0, rolledBack: 0 };
    for (const offset of [-1000, -800, -600, -500, -400, -300, -200, -100, 0, 200]) {
      expect((await cli('apply', '--config', a)).code).toBe(0);
      const t = await cli('apply', '--confirm', '2', '--config', b, '--json');
      expect(t.code, t.stderr).toBe(0);
      const deadline = Date.parse(JSON.parse(t.stdout).pending.deadline);
      await new Promise((r) => setTimeout(r, Math.max(0, deadline + offset - Date.now())));
      const c = await writer(['confirm', '--config', b]);
      console.log(`confirm at deadline ${offset >= 0 ? '+' : ''}${offset} ms: exit ${c.code} ${c.stderr.split('\n')[0]}`);
      // Wait for the watcher to have decided too (the pending file goes either way).
      await until(async () => !existsSync(path.join(L.stateDir, 'pending-confirmation.json')), 8000, 50);
      const lastGood = JSON.parse(readFileSync(path.join(L.stateDir, 'last-good.json'), 'utf8')).hash;
      if (c.code === 0) {
        seen.confirmed++;
        expect(await equals(b), 'confirmed: the trial ruleset is live').toBe(true);
        expect(lastGood).toBe(JSON.parse(t.stdout).hash);
      } else {
        seen.rolledBack++;
        expect(c.stderr).toMatch(/AFW_CONFIRM_REFUSED/);
        expect(await equals(a), 'not confirmed: the previous ruleset is live').toBe(true);
        expect(lastGood).not.toBe(JSON.parse(t.stdout).hash);
      }
    }
    expect(seen.confirmed).toBeGreaterThan(0);
    expect(seen.rolledBack).toBeGreaterThan(0);
    console.log(`confirm against expiring trial: ${JSON.stringify(seen)}`);
  });

  it('the daemon and repeated applies of its own config during inventory edits: every apply exits 0, the config is live at the end', async () => {
    expect((await cli('apply', '--config', a)).code).toBe(0);
    const d = new DaemonProc(n1, ['--config', a]);
    try {
      await d.waitFor((l) => l.event === 'apply' && l.reason === 'startup', 15_000);
      for (let i = 0; i < 12; i++) {
        const tmp = path.join(L.dir, '.inventory.tmp');
        writeFileSync(tmp, i % 2 ? BASE_INVENTORY : BASE_INVENTORY + NODE4);
        const renamed = L.lab.must(n1, 'mv', [tmp, path.join(L.dir, 'inventory.yaml')]);
        const [r] = await Promise.all([writer(['apply', '--config', a]), renamed]);
        expect(r.code, `apply ${i}: ${r.stderr}`).toBe(0);
      }
      // The last edit has node-4 out again; the daemon settles on it.
      await until(() => equals(a), 5000, 100);
      expect(d.logs.filter((l) => l.result === 'error')).toEqual([]);
    } finally {
      await d.kill('SIGTERM');
    }
  });

  it('another tool inserting rules at the top of PREROUTING and INPUT while we apply: every foreign rule survives', async () => {
    writeFileSync(path.join(L.dir, 'reject.yaml'), REJECT);
    const cfg = path.join(L.dir, 'reject.yaml');
    expect((await cli('apply', '--config', cfg)).code).toBe(0);
    const before = await foreignState(L.lab, n1);
    const N = 300;
    // The other tool: its own rules, one at a time, at the top.
    const other = L.lab.exec(n1, 'sh', [
      '-c',
      `i=0; while [ $i -lt ${N} ]; do iptables-nft -t mangle -I PREROUTING 1 -m comment --comment "other $i" -j cali-PREROUTING || exit 1; iptables-nft -I INPUT 1 -m comment --comment "other $i" -j cali-INPUT || exit 1; i=$((i+1)); sleep 0.01; done`,
    ]);
    let applies = 0;
    let done = false;
    void other.then(() => {
      done = true;
    });
    const jumpLine = (await L.lab.must(n1, 'iptables-nft-save', ['-t', 'mangle']))
      .split('\n')
      .find((l) => l.startsWith('-A PREROUTING') && l.includes('-j AFW-PREROUTING'))!;
    while (!done) {
      // A second copy of our jump, and one pushed down: the apply must fix them, deleting by rule text.
      await L.lab.must(n1, 'iptables-nft-restore', ['--noflush'], { input: `*mangle\n${jumpLine}\nCOMMIT\n` });
      const r = await cli('apply', '--config', cfg);
      expect(r.code, r.stderr).toBe(0);
      applies++;
    }
    expect((await other).code).toBe(0);
    expect(applies).toBeGreaterThan(3);
    const save = await L.lab.must(n1, 'iptables-nft-save', []);
    for (let i = 0; i < N; i++) {
      for (const chain of ['PREROUTING', 'INPUT']) {
        const target = chain === 'PREROUTING' ? 'cali-PREROUTING' : 'cali-INPUT';
        const line = `-A ${chain} -m comment --comment "other ${i}" -j ${target}`;
        expect(
          save.split('\n').filter((l) => l === line),
          line,
        ).toHaveLength(1);
      }
    }
    // Everything else that is not ours is as it was, byte for byte.
    const after = (await foreignState(L.lab, n1))
      .split('\n')
      .filter((l) => !/--comment "other \d+"/.test(l))
      .join('\n');
    expect(after).toBe(before);
    console.log(`foreign inserter: ${N * 2} rules inserted during ${applies} applies, all kept`);
    // The other tool goes away with its rules (removed by their text too).
    const remove = [];
    for (let i = 0; i < N; i++) {
      remove.push(`-D PREROUTING -m comment --comment "other ${i}" -j cali-PREROUTING`);
    }
    await L.lab.must(n1, 'iptables-nft-restore', ['--noflush'], { input: `*mangle\n${remove.join('\n')}\nCOMMIT\n` });
    const removeInput = remove.map((l) => l.replace('PREROUTING', 'INPUT').replace('cali-PREROUTING', 'cali-INPUT'));
    await L.lab.must(n1, 'iptables-nft-restore', ['--noflush'], { input: `*filter\n${removeInput.join('\n')}\nCOMMIT\n` });
    expect((await cli('apply', '--config', a)).code).toBe(0);
    expect(await foreignState(L.lab, n1)).toBe(foreign);
  });

  it('an apply killed with SIGKILL at 20 random moments: jumps always there, an unlisted port closed, the next apply recovers cleanly', async () => {
    expect((await cli('apply', '--config', a)).code).toBe(0);
    const moments: number[] = [];
    for (let i = 0; i < 20; i++) {
      const cfg = i % 2 ? a : b;
      const at = Math.round(Math.random() * 600);
      moments.push(at);
      await writer(['apply', '--config', cfg], at);
      const j = await jumps();
      expect(j['mangle/PREROUTING']?.count, `killed at ${at} ms: the ingress jump`).toBeGreaterThanOrEqual(1);
      expect(j['filter/OUTPUT']?.count, `killed at ${at} ms: the egress jump`).toBeGreaterThanOrEqual(1);
      expect(await probe('node-2', 9999), `killed at ${at} ms: an unlisted port`).toBe('timeout');
      const r = await cli('apply', '--config', cfg);
      expect(r.code, r.stderr).toBe(0);
      expect(await equals(cfg)).toBe(true);
      expect(await tempSets()).toEqual([]);
      expect(Object.values(await jumps()).every((x) => x.count === 1 && x.first)).toBe(true);
    }
    expect(await foreignState(L.lab, n1)).toBe(foreign);
    console.log(`SIGKILL moments (ms after start): ${moments.sort((x, y) => x - y).join(', ')}`);
  });

  it('a writer that cannot get the lock in time fails with AFW_LOCK_TIMEOUT naming the holder; another namespace is not blocked; kill -9 frees it', async () => {
    // A holder that takes the lock and keeps it until it is killed.
    const script = `const { ToolRunner } = await import(${JSON.stringify(path.join(ROOT, 'dist/src/dataplane/exec.js'))});
const { WriteLock } = await import(${JSON.stringify(path.join(ROOT, 'dist/src/dataplane/write-lock.js'))});
await new WriteLock(new ToolRunner(), 'test-holder').acquire();
console.log('held');
setInterval(() => {}, 1000);`;
    const holder = spawn('nsenter', [`--net=/run/netns/${n1}`, process.execPath, '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
      const started = performance.now();
      const r = await L.lab.cli(n1, ['apply', '--config', a], { ARTESCA_FW_LOCK_WAIT: '1' });
      const waited = performance.now() - started;
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/AFW_LOCK_TIMEOUT/);
      expect(r.stderr).toContain(`held by pid ${holder.pid} (artesca-fw test-holder)`);
      expect(waited).toBeGreaterThan(900);
      // Another namespace has a lock of its own.
      const other = await L.lab.cli(L.ns['node-2']!, ['flush', '--config', a], { ARTESCA_FW_LOCK_WAIT: '1' });
      expect(other.code, other.stderr).toBe(0);
    } finally {
      holder.kill('SIGKILL');
    }
    // Killed: the kernel released the lock; the next writer goes through at once.
    await new Promise((r) => holder.once('exit', r));
    const r = await L.lab.cli(n1, ['apply', '--config', a], { ARTESCA_FW_LOCK_WAIT: '0' });
    expect(r.code, r.stderr).toBe(0);
  });
});
