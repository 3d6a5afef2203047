// The agent recovering from what goes wrong around it: a load the kernel
// refuses (retried until the cause is gone, with no file event), a config
// folder updated by a symlink swap (a ConfigMap), another firewall manager
// wiping every chain (repaired, and reported), and state files that were
// damaged or tampered with (refused, nothing loaded).
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProc, until } from '../../scripts/lab/daemon.js';
import { type Peer, requireKernelTests } from '../../scripts/lab/netns.js';
import { BASE_CONFIG, BASE_INVENTORY, edit } from '../helpers/fixtures.js';
import { buildNodeLab, type NodeLab, ourRules } from '../helpers/node-lab.js';
import { TAMPERS } from '../helpers/tamper.js';

// Fails at once, naming what is missing, when not root or a tool is not installed.
requireKernelTests();

const WITHOUT_NODE2 = edit(BASE_INVENTORY, [
  ['  - name: node-2\n    roles: [master, etcd, infra]\n    controlPlaneIP: 10.100.0.2\n    workloadPlaneIP: 10.200.0.2\n', ''],
]);

describe('recovery', () => {
  let L: NodeLab;
  let n1: string;
  let peer: Record<string, Peer>;
  const cli = (...args: string[]) => L.lab.cli(n1, args);
  const http = (p: string) => peer['node-1']!.http(`http://127.0.0.1:9900${p}`);
  const status = async () => JSON.parse((await http('/status')).body);
  const probe = (from: string, port: number) => peer[from]!.probe('10.100.0.1', port, { timeoutMs: 300 }).then((p) => p.state);

  beforeAll(async () => {
    L = await buildNodeLab({ foreign: false });
    n1 = L.ns['node-1']!;
    peer = { 'node-1': L.lab.peer(n1), 'node-2': L.lab.peer(L.ns['node-2']!) };
    await peer['node-1']!.listen('tcp', 6443, 9999);
  });
  afterAll(async () => {
    await L?.cleanup();
  });

  it('a load the kernel refuses is retried with backoff, and succeeds once the cause is gone, with no file event', async () => {
    // A base chain named PREROUTING on the wrong hook in "ip mangle", as a
    // hand-written nft ruleset might leave: iptables-nft-restore cannot add to it.
    await L.lab.must(n1, 'nft', ['add', 'table', 'ip', 'mangle']);
    await L.lab.must(n1, 'nft', ['add chain ip mangle PREROUTING { type filter hook input priority 0; }']);
    const d = new DaemonProc(n1, ['--config', L.configFile]);
    try {
      await until(async () => ((await status().catch(() => null))?.retry?.failures ?? 0) >= 2, 15_000, 100);
      const s = await status();
      expect(s.lastError.code).toBe('AFW_IPTABLES_FAILED');
      expect(s.retry).toMatchObject({ failures: expect.any(Number), delayMs: expect.any(Number), nextAt: expect.any(String) });
      expect(s.retry.delayMs).toBeGreaterThan(1500); // the second pause is about 2 s, then 4 s...
      expect((await http('/readyz')).status).toBe(503);
      const m = (await http('/metrics')).body;
      expect(Number(/artesca_fw_apply_failures_total (\d+)/.exec(m)?.[1])).toBeGreaterThanOrEqual(2);
      expect(Number(/artesca_fw_apply_consecutive_failures (\d+)/.exec(m)?.[1])).toBeGreaterThanOrEqual(2);
      expect(await probe('node-2', 9999)).toBe('open'); // nothing enforced yet: the load never went through
      // The cause goes away; nothing else happens (no file, interface or signal event).
      const since = d.logs.length;
      await L.lab.must(n1, 'nft', ['delete', 'chain', 'ip', 'mangle', 'PREROUTING']);
      const ok = await d.waitFor((l) => l.event === 'apply' && l.result === 'applied', 40_000, since);
      expect(ok.reason).toBe('retry');
      expect(d.logs.slice(since).filter((l) => l.event === 'file')).toEqual([]);
      await until(async () => (await http('/readyz')).status === 200, 3000);
      const after = await status();
      expect(after.retry).toBeNull();
      expect(after.lastError).toBeNull();
      expect(Number(/artesca_fw_apply_consecutive_failures (\d+)/.exec((await http('/metrics')).body)?.[1])).toBe(0);
      expect(await probe('node-2', 9999)).toBe('timeout');
    } finally {
      await d.kill('SIGTERM');
    }
  });

  it('while the kernel refuses a load, /status describes the rules still in force, not the inventory just read', async () => {
    L.writeInventory(BASE_INVENTORY);
    const d = new DaemonProc(n1, ['--config', L.configFile]);
    let held = '';
    try {
      await until(async () => (await http('/readyz').catch(() => ({ status: 0 }))).status === 200, 15_000);
      // Another tool's rule holding a set named like our temporary copy: every load
      // first removes such leftovers, and the kernel refuses to while it is in use.
      const sets = (await L.lab.must(n1, 'ipset', ['list', '-n'])).split('\n').filter((n) => n.startsWith('afw'));
      held = `${sets[0]}-swp`;
      const before = await status();
      expect(before.inventory.nodes).toBe(3);
      await L.lab.must(n1, 'ipset', ['create', held, 'hash:ip']);
      await L.lab.must(n1, 'iptables-nft', ['-N', 'TEST-HOLD']);
      await L.lab.must(n1, 'iptables-nft', ['-A', 'TEST-HOLD', '-m', 'set', '--match-set', held, 'src', '-j', 'RETURN']);
      // Removing node-2 is a change of set members alone, which goes in as a delta that needs no
      // leftover removed: take node-2 out of a set that does not decide 6443 by hand, so that the
      // delta is refused as well and the whole reconcile (which meets the held set) runs.
      let other = '';
      for (const n of sets.filter((x) => x.startsWith('afw4-') && x !== 'afw4-cp-all'))
        if (/^10\.100\.0\.2$/m.test(await L.lab.must(n1, 'ipset', ['list', n]))) other ||= n;
      expect(other).not.toBe('');
      await L.lab.must(n1, 'ipset', ['del', other, '10.100.0.2']);
      const since = d.logs.length;
      L.writeInventory(WITHOUT_NODE2);
      await d.waitFor((l) => l.event === 'apply' && /membership delta refused/.test(String(l.msg)), 10_000, since);
      await d.waitFor((l) => l.event === 'apply' && l.result === 'error', 10_000, since);
      const s = await status();
      expect(s.lastError.code).toMatch(/^AFW_/);
      expect(s.inventory).toEqual(before.inventory); // 3 nodes, read when they were loaded
      expect(s.endpoints).toEqual(before.endpoints);
      expect(s.ruleset.hash).toBe(before.ruleset.hash);
      expect(await probe('node-2', 6443)).toBe('open'); // node-2 is still allowed: its rules are in force
      // The other tool lets go: the retry loads the edit, and /status follows.
      await L.lab.must(n1, 'iptables-nft', ['-F', 'TEST-HOLD']);
      await L.lab.must(n1, 'iptables-nft', ['-X', 'TEST-HOLD']);
      await d.waitFor((l) => l.event === 'apply' && l.result === 'applied', 40_000, since);
      const after = await status();
      expect(after.inventory.nodes).toBe(2);
      expect(after.ruleset.hash).not.toBe(before.ruleset.hash);
      expect(await probe('node-2', 6443)).toBe('timeout');
    } finally {
      await d.kill('SIGTERM');
      await L.lab.exec(n1, 'iptables-nft', ['-F', 'TEST-HOLD']);
      await L.lab.exec(n1, 'iptables-nft', ['-X', 'TEST-HOLD']);
      if (held) await L.lab.exec(n1, 'ipset', ['destroy', held]);
      L.writeInventory(BASE_INVENTORY);
    }
  });

  it('a config folder updated by a symlink swap (a ConfigMap\'s "..data") is live within 2 s', async () => {
    // The layout the kubelet writes: files are links through ..data, a link to a timestamped folder.
    const cm = path.join(L.dir, 'cm');
    const version = (name: string, inventory: string) => {
      mkdirSync(path.join(cm, name), { recursive: true });
      writeFileSync(path.join(cm, name, 'config.yaml'), BASE_CONFIG.replace('stateDir: state', `stateDir: ${L.stateDir}`));
      writeFileSync(path.join(cm, name, 'inventory.yaml'), inventory);
    };
    version('..2026_12_03_a', BASE_INVENTORY);
    symlinkSync('..2026_12_03_a', path.join(cm, '..data'));
    for (const f of ['config.yaml', 'inventory.yaml']) symlinkSync(path.join('..data', f), path.join(cm, f));
    const d = new DaemonProc(n1, ['--config', path.join(cm, 'config.yaml')]);
    try {
      await until(async () => (await http('/readyz').catch(() => ({ status: 0 }))).status === 200, 15_000);
      expect(await probe('node-2', 6443)).toBe('open');
      version('..2026_12_03_b', WITHOUT_NODE2);
      const since = d.logs.length;
      symlinkSync('..2026_12_03_b', path.join(cm, '..data_tmp'));
      const t0 = performance.now();
      renameSync(path.join(cm, '..data_tmp'), path.join(cm, '..data'));
      await d.waitFor((l) => l.event === 'apply' && l.result === 'applied' && l.reason === 'file change', 2000, since);
      const took = performance.now() - t0;
      expect(took).toBeLessThan(2000);
      expect(await probe('node-2', 6443)).toBe('timeout');
      console.log(`symlink swap to rule live: ${Math.round(took)} ms`);
    } finally {
      await d.kill('SIGTERM');
    }
  });

  it('another firewall manager: reported by check and /status, and its wipe of every chain repaired', async () => {
    // A process named firewalld (a copy of sleep): what the process-list detection sees on a host without systemd.
    const fake = path.join(L.dir, 'firewalld');
    copyFileSync('/bin/sleep', fake);
    const fw = spawn(fake, ['60'], { stdio: 'ignore' });
    const d = new DaemonProc(n1, ['--config', L.configFile]);
    try {
      await until(async () => (await http('/readyz').catch(() => ({ status: 0 }))).status === 200, 15_000);
      const s = await status();
      expect(s.conflicts).toMatchObject([{ manager: 'firewalld', evidence: 'a firewalld process is running' }]);
      expect(d.logs.find((l) => l.event === 'conflict')?.msg).toMatch(/another firewall manager is active: firewalld/);
      expect((await http('/metrics')).body).toContain('artesca_fw_conflicting_firewalls{manager="firewalld"} 1');
      const check = await cli('check', '--config', L.configFile);
      expect(check.code, check.stderr).toBe(0);
      expect(check.stdout).toMatch(/WARNING: firewalld is active: its reload removes every iptables chain/);
      const summary = await cli('status', '--config', L.configFile);
      expect(summary.stdout).toMatch(/WARNING: firewalld is active/);
      // What `firewall-cmd --reload` does with the iptables backend: every table flushed, every chain deleted.
      const repairsBefore = s.driftRepairs;
      const t0 = performance.now();
      for (const [tool, tables] of [
        ['iptables-nft-restore', ['mangle', 'filter', 'nat', 'raw']],
        ['ip6tables-nft-restore', ['mangle', 'filter', 'nat', 'raw']],
      ] as const) {
        await L.lab.must(n1, tool, [], { input: tables.map((t) => `*${t}\nCOMMIT\n`).join('') });
      }
      expect(await ourRules(L.lab, n1)).not.toContain('-A PREROUTING');
      await until(async () => (await cli('diff', '--config', L.configFile)).code === 0, 3000, 50);
      const took = performance.now() - t0;
      expect(took).toBeLessThan(3000);
      expect((await status()).driftRepairs).toBeGreaterThan(repairsBefore);
      expect(await probe('node-2', 9999)).toBe('timeout');
      console.log(`firewalld-style wipe repaired in ${Math.round(took)} ms`);
    } finally {
      fw.kill('SIGKILL');
      await d.kill('SIGTERM');
    }
  });

  it('damaged or tampered last-known-good files are refused, naming file and field, and nothing is loaded', async () => {
    expect((await cli('apply', '--config', L.configFile)).code).toBe(0);
    const good = JSON.parse(readFileSync(path.join(L.stateDir, 'last-good.json'), 'utf8'));
    expect((await cli('flush', '--config', L.configFile)).code).toBe(0);
    const before = await ourRules(L.lab, n1);
    expect(before).toBe('');
    expect(TAMPERS.length).toBeGreaterThanOrEqual(8);
    for (const t of TAMPERS) {
      const dir = path.join(L.dir, `tampered-${TAMPERS.indexOf(t)}`);
      mkdirSync(dir, { recursive: true });
      const file = path.join(dir, 'last-good.json');
      writeFileSync(file, t.make(good));
      const r = await cli('apply', '--from-state', dir);
      expect(r.code, t.name).toBe(1);
      expect(r.stderr, t.name).toContain(file);
      expect(r.stderr, t.name).toContain(t.field);
      expect(r.stderr, t.name).toContain('AFW_STATE_CORRUPT');
      expect(await ourRules(L.lab, n1), `${t.name}: nothing loaded`).toBe(before);
    }
    // The good file still loads.
    const okDir = path.join(L.dir, 'good-state');
    mkdirSync(okDir);
    writeFileSync(path.join(okDir, 'last-good.json'), JSON.stringify(good));
    expect((await cli('apply', '--from-state', okDir)).code).toBe(0);
    expect(await ourRules(L.lab, n1)).not.toBe('');
  });
});
