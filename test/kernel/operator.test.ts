// Operator safety and insight against the real kernel: explain agrees with
// real probes, apply --confirm rolls back unless confirmed (with and without a
// running daemon), audit mode lets everything through and counts, drop logging,
// and diff.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProc, until } from '../../scripts/lab/daemon.js';
import { type Peer, requireKernelTests } from '../../scripts/lab/netns.js';
import { BASE_CONFIG, edit } from '../helpers/fixtures.js';
import { buildNodeLab, type NodeLab } from '../helpers/node-lab.js';

// Fails at once, naming what is missing, when not root or a tool is not installed.
requireKernelTests();

/** The config with control-plane-general emptied: kubelet (10250) from peers is no longer allowed. */
const NO_KUBELET = edit(BASE_CONFIG, [
  ['policies: []', 'policies:\n  - { name: control-plane-general, order: 105, appliesTo: { plane: controlPlane } }'],
]);

describe('operator tools', () => {
  let L: NodeLab;
  let n1: string;
  let peer: Record<string, Peer>;
  const probe = (from: string, host: string, port: number, proto: 'tcp' | 'udp' = 'tcp') =>
    peer[from]!.probe(host, port, { proto, timeoutMs: 300 }).then((p) => p.state);
  const cli = (...args: string[]) => L.lab.cli(n1, args);
  const writeConfig = (name: string, text: string) => {
    const file = path.join(L.dir, name);
    writeFileSync(file, text);
    return file;
  };

  beforeAll(async () => {
    L = await buildNodeLab({ foreign: false });
    n1 = L.ns['node-1']!;
    peer = {};
    for (const name of ['node-1', 'node-2', 'node-3', 'outsider']) peer[name] = L.lab.peer(L.ns[name]!);
    await peer['node-1']!.listen('tcp', 22, 179, 443, 2379, 6443, 8443, 9999, 10250);
    await peer['node-1']!.listen('udp', 123, 5353);
    await peer['node-2']!.listen('tcp', 2380, 7777);
    const r = await cli('apply', '--config', L.configFile);
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(async () => {
    await L?.cleanup();
  });

  it('explain gives the verdict the kernel gives, case by case', async () => {
    const cases: { from: string; src: string; to: string; port: number; proto?: 'tcp' | 'udp'; direction?: 'egress' }[] = [
      { from: 'node-2', src: '10.100.0.2', to: '10.100.0.1', port: 6443 },
      { from: 'node-3', src: '10.100.0.3', to: '10.100.0.1', port: 2379 },
      { from: 'node-2', src: '10.100.0.2', to: '10.100.0.1', port: 2379 },
      { from: 'outsider', src: '10.100.0.50', to: '10.100.0.1', port: 6443 },
      { from: 'outsider', src: '10.100.0.50', to: '10.100.0.1', port: 8443 },
      { from: 'node-2', src: '10.100.0.2', to: '10.100.0.1', port: 9999 },
      { from: 'node-2', src: '10.100.0.2', to: '10.100.0.1', port: 22 },
      { from: 'node-2', src: '10.100.0.2', to: '10.100.0.100', port: 6443 },
      { from: 'outsider', src: '10.200.0.50', to: '10.200.0.1', port: 443 },
      { from: 'outsider', src: '10.200.0.50', to: '10.200.0.1', port: 179 },
      { from: 'node-3', src: '10.200.0.3', to: '10.200.0.1', port: 179 },
      { from: 'outsider', src: '10.100.0.50', to: '10.100.0.1', port: 123, proto: 'udp' },
      { from: 'node-2', src: '10.100.0.2', to: '10.100.0.1', port: 5353, proto: 'udp' },
      { from: 'node-1', src: '10.100.0.1', to: '10.100.0.2', port: 2380, direction: 'egress' },
    ];
    let allows = 0;
    for (const c of cases) {
      const args = [
        'explain',
        '--config',
        L.configFile,
        '--json',
        '--from',
        c.src,
        '--to',
        c.to,
        '--proto',
        c.proto ?? 'tcp',
        '--port',
        String(c.port),
      ];
      if (c.direction) args.push('--direction', c.direction);
      const r = await cli(...args);
      expect(r.code, r.stderr).toBe(0);
      const e = JSON.parse(r.stdout);
      const real = await probe(c.from, c.to, c.port, c.proto);
      const label = `${c.src} -> ${c.to}:${c.port}/${c.proto ?? 'tcp'}: explain ${e.verdict} (${e.reason}), kernel ${real}`;
      expect(e.verdict === 'allow', label).toBe(real === 'open');
      expect(['open', 'timeout'], label).toContain(real);
      if (e.verdict === 'allow') allows++;
    }
    expect(allows).toBeGreaterThan(3);
    expect(allows).toBeLessThan(cases.length - 3);
    const text = await cli('explain', '--config', L.configFile, '--from', '10.100.0.3', '--to', '10.100.0.1', '--port', '2379');
    expect(text.stdout).toMatch(
      /^DENY tcp port 2379 10\.100\.0\.3 -> 10\.100\.0\.1 \(ingress\) on cp0 \[AFW-CP-IN rule \d+\]: default deny/,
    );
  });

  it('diff: equal after apply (exit 0), every tampering listed (exit 1)', async () => {
    const same = await cli('diff', '--config', L.configFile);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toMatch(/live equals desired/);
    await L.lab.must(n1, 'iptables-nft', ['-t', 'mangle', '-D', 'AFW-CP-IN', '5']);
    await L.lab.must(n1, 'iptables-nft', ['-t', 'mangle', '-A', 'AFW-CP-IN', '-p', 'tcp', '--dport', '1234', '-j', 'RETURN']);
    await L.lab.must(n1, 'iptables-nft', ['-t', 'filter', '-D', 'OUTPUT', '1']);
    await L.lab.must(n1, 'ipset', ['add', 'afw4-cp-et', '10.100.0.77']);
    await L.lab.must(n1, 'ipset', ['del', 'afw4-cp-all', '10.100.0.3']);
    const d = await cli('diff', '--config', L.configFile, '--json');
    expect(d.code).toBe(1);
    const kinds = JSON.parse(d.stdout).differences.map(
      (x: { kind: string; where: string; text: string }) => `${x.kind} ${x.where} ${x.text}`,
    );
    expect(kinds).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^missing rule IPv4 mangle AFW-CP-IN -A AFW-CP-IN /),
        expect.stringMatching(/^extra rule IPv4 mangle AFW-CP-IN .*--dport 1234/),
        'jump IPv4 filter OUTPUT no jump to AFW-OUTPUT',
        'extra member afw4-cp-et 10.100.0.77',
        'missing member afw4-cp-all 10.100.0.3',
      ]),
    );
    expect(kinds).toHaveLength(5);
    const fix = await cli('apply', '--config', L.configFile);
    expect(fix.code, fix.stderr).toBe(0);
    expect((await cli('diff', '--config', L.configFile)).code).toBe(0);
  });

  it('logDrops: a rate-limited LOG rule with the endpoint in its prefix counts what is dropped; logDrops false has none', async () => {
    expect(await probe('outsider', '10.100.0.1', 9999)).toBe('timeout');
    const save = await L.lab.must(n1, 'iptables-nft-save', ['-c', '-t', 'mangle']);
    const log = save.split('\n').find((l) => l.includes('-A AFW-CP-IN-DENY') && l.includes('-j LOG'));
    expect(log).toMatch(/--limit (60\/min|1\/sec) --limit-burst 10/); // iptables prints 60/minute as 1/sec
    expect(log).toContain('--log-prefix "afw:CP-IN:deny "');
    expect(Number(/^\[(\d+):/.exec(log!)?.[1])).toBeGreaterThan(0);
    const quiet = writeConfig('quiet.yaml', BASE_CONFIG.replace('logDrops: true', 'logDrops: false'));
    expect((await cli('apply', '--config', quiet)).code).toBe(0);
    expect(await L.lab.must(n1, 'iptables-nft-save', ['-t', 'mangle'])).not.toContain('-j LOG');
    expect((await cli('apply', '--config', L.configFile)).code).toBe(0);
  });

  describe('apply --confirm', () => {
    it('without confirmation, the previous ruleset comes back in time', async () => {
      expect(await probe('node-2', '10.100.0.1', 10250)).toBe('open');
      const b = writeConfig('no-kubelet.yaml', NO_KUBELET);
      const t0 = performance.now();
      const r = await cli('apply', '--confirm', '3', '--config', b);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/on trial: run "artesca-fw confirm" before/);
      expect(await probe('node-2', '10.100.0.1', 10250)).toBe('timeout');
      await until(async () => (await probe('node-2', '10.100.0.1', 10250)) === 'open', 6000, 50);
      const took = performance.now() - t0;
      expect(took).toBeGreaterThan(2500);
      expect(took).toBeLessThan(6000);
      expect(readFileSync(path.join(L.stateDir, 'rollback.log'), 'utf8')).toMatch(/rolled back: ruleset \w+ was not confirmed/);
      expect((await cli('diff', '--config', L.configFile)).code).toBe(0); // exactly the previous ruleset
    });

    it('confirmed, the new ruleset stays and becomes last-known-good', async () => {
      const b = path.join(L.dir, 'no-kubelet.yaml');
      const r = await cli('apply', '--confirm', '3', '--config', b, '--json');
      expect(r.code, r.stderr).toBe(0);
      const hash = JSON.parse(r.stdout).hash;
      const c = await cli('confirm', '--config', b);
      expect(c.code, c.stderr).toBe(0);
      // A bounded wait on purpose: past the deadline, the confirmed ruleset must not be rolled back.
      await new Promise((res) => setTimeout(res, 4000));
      expect(await probe('node-2', '10.100.0.1', 10250)).toBe('timeout');
      expect(JSON.parse(readFileSync(path.join(L.stateDir, 'last-good.json'), 'utf8')).hash).toBe(hash);
      expect((await cli('confirm', '--config', b)).stderr).toMatch(/nothing to confirm/);
      expect((await cli('apply', '--config', L.configFile)).code).toBe(0);
    });

    it('a running daemon does not overwrite a trial, and does not load a rolled-back ruleset again', async () => {
      const d = new DaemonProc(n1, ['--config', L.configFile]);
      try {
        const http = (p: string) => peer['node-1']!.http(`http://127.0.0.1:9900${p}`);
        await until(async () => (await http('/readyz')).status === 200, 15_000);
        // Stage the change as a trial, then move it into place while the trial runs.
        const staged = writeConfig('staged.yaml', NO_KUBELET);
        const r = await cli('apply', '--confirm', '3', '--config', staged);
        expect(r.code, r.stderr).toBe(0);
        const since = d.logs.length;
        renameSync(staged, L.configFile);
        await until(async () => (await http('/readyz')).status === 503, 3000);
        expect(JSON.parse((await http('/readyz')).body).reason).toMatch(/awaiting confirmation/);
        await d.waitFor((l) => l.event === 'file', 3000, since); // the daemon saw the file change...
        // A bounded wait on purpose: it proves that the daemon writes nothing during the trial.
        await new Promise((res) => setTimeout(res, 1500));
        expect(await probe('node-2', '10.100.0.1', 10250)).toBe('timeout'); // ...and left the trial alone
        // Not confirmed: the previous ruleset comes back, and the daemon keeps it although its config asks for the refused one.
        await until(async () => (await probe('node-2', '10.100.0.1', 10250)) === 'open', 6000, 50);
        await until(async () => /AFW_NOT_CONFIRMED/.test((await http('/readyz')).body), 4000);
        // A bounded wait on purpose: it proves that the refused ruleset is not loaded again.
        await new Promise((res) => setTimeout(res, 1500));
        expect(await probe('node-2', '10.100.0.1', 10250)).toBe('open');
        // An explicit apply settles it.
        expect((await cli('apply', '--config', L.configFile)).code).toBe(0);
        await until(async () => (await http('/readyz')).status === 200, 5000);
        expect(await probe('node-2', '10.100.0.1', 10250)).toBe('timeout');
      } finally {
        await d.kill('SIGTERM');
        writeFileSync(L.configFile, BASE_CONFIG);
        await cli('apply', '--config', L.configFile);
      }
    });
  });

  it('audit mode: nothing is dropped, what would be is logged and counted in /status and /metrics', async () => {
    writeFileSync(L.configFile, BASE_CONFIG.replace('mode: enforce', 'mode: audit'));
    const d = new DaemonProc(n1, ['--config', L.configFile]);
    try {
      const http = (p: string) => peer['node-1']!.http(`http://127.0.0.1:9900${p}`);
      await until(async () => (await http('/readyz')).status === 200, 15_000);
      expect(await probe('outsider', '10.100.0.1', 9999)).toBe('open');
      expect(await probe('node-3', '10.100.0.1', 2379)).toBe('open');
      const s = JSON.parse((await http('/status')).body);
      expect(s.mode).toBe('audit');
      expect(s.denied.wouldOnly).toBe(true);
      const cp = s.denied.byDecision.find(
        (x: { endpoint: string; direction: string; policy: string; family: string }) =>
          x.endpoint === 'CP' && x.direction === 'ingress' && x.policy === 'default' && x.family === 'ipv4',
      );
      expect(cp.packets).toBeGreaterThanOrEqual(2);
      const m = (await http('/metrics')).body;
      expect(
        Number(
          /artesca_fw_policy_packets\{policy="default",endpoint="CP",direction="ingress",decision="audit",family="ipv4"\} (\d+)/.exec(
            m,
          )?.[1],
        ),
      ).toBeGreaterThanOrEqual(2);
      const save = await L.lab.must(n1, 'iptables-nft-save', ['-t', 'mangle']);
      expect(save).toContain('--log-prefix "afw:CP-IN:audit "');
      expect(save).not.toMatch(/-j DROP/);
      expect(existsSync(L.configFile)).toBe(true);
    } finally {
      await d.kill('SIGTERM');
      writeFileSync(L.configFile, BASE_CONFIG);
    }
  });
});
