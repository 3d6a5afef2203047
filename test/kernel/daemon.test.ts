// The real daemon process (`artesca-fw run`) in a namespace: file changes,
// invalid edits, drift repair, kill -9 and restart, signals, late interfaces,
// and the status server.
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProc, until } from '../../scripts/lab/daemon.js';
import { type Peer, requireKernelTests } from '../../scripts/lab/netns.js';
import { BASE_CONFIG, BASE_INVENTORY, edit } from '../helpers/fixtures.js';
import { buildNodeLab, foreignState, type NodeLab, ourRules } from '../helpers/node-lab.js';

// Fails at once, naming what is missing, when not root or a tool is not installed.
requireKernelTests();

const WITHOUT_NODE2 = edit(BASE_INVENTORY, [
  ['  - name: node-2\n    roles: [master, etcd, infra]\n    controlPlaneIP: 10.100.0.2\n    workloadPlaneIP: 10.200.0.2\n', ''],
]);

describe('the daemon', () => {
  let L: NodeLab;
  let n1: string;
  let d: DaemonProc;
  let peer: Record<string, Peer>;
  let foreign: string;
  const figures: string[] = [];

  const http = (p: string) => peer['node-1']!.http(`http://127.0.0.1:9900${p}`);
  const status = async () => JSON.parse((await http('/status')).body);
  const probe = (from: string, host: string, port: number) =>
    peer[from]!.probe(host, port, { timeoutMs: 300 }).then((p) => p.state);
  const start = () => new DaemonProc(n1, ['--config', L.configFile]);
  const ready = () => until(async () => (await http('/readyz')).status === 200, 15_000);

  beforeAll(async () => {
    L = await buildNodeLab();
    n1 = L.ns['node-1']!;
    peer = {};
    for (const name of ['node-1', 'node-2', 'outsider']) peer[name] = L.lab.peer(L.ns[name]!);
    await peer['node-1']!.listen('tcp', 6443, 9999);
    foreign = await foreignState(L.lab, n1);
    d = start();
    await ready();
  });
  afterAll(async () => {
    await d?.kill('SIGKILL');
    await L?.cleanup();
    if (figures.length) console.log(`daemon figures:\n  ${figures.join('\n  ')}`);
  });

  it('answers /healthz, /readyz and /status as specified', async () => {
    expect((await http('/healthz')).status).toBe(200);
    const r = await http('/readyz');
    expect(r.status).toBe(200);
    const s = await status();
    expect(s).toMatchObject({
      node: { name: 'node-1', roles: ['bootstrap', 'etcd', 'infra', 'master', 'registry'] },
      mode: 'enforce',
      backend: 'nft',
      lastError: null,
      driftRepairs: 0,
      version: expect.any(String),
      inventory: { file: path.join(L.dir, 'inventory.yaml'), nodes: 3, loadedAt: expect.any(String) },
      ruleset: {
        hash: expect.stringMatching(/^[0-9a-f]{16}$/),
        appliedAt: expect.any(String),
        rules: expect.any(Number),
        sets: 9, // 7 peer sets, and the watch set of each family
      },
    });
    expect(s.endpoints).toEqual([
      expect.objectContaining({ planes: ['controlPlane'], interface: 'cp0', addresses: ['10.100.0.1', '10.100.0.100'] }),
      expect.objectContaining({ planes: ['workloadPlane'], interface: 'wp0', addresses: ['10.200.0.1'] }),
    ]);
    expect(d.logs.find((l) => l.event === 'apply' && l.reason === 'startup')).toMatchObject({
      result: 'applied',
      rules: expect.any(Number),
      sets: 9,
    });
    expect(await foreignState(L.lab, n1)).toBe(foreign);
  });

  it('/metrics exposes applies, durations, drift repairs, sizes, inventory and per-policy packet counters', async () => {
    expect(await probe('node-2', '10.100.0.1', 6443)).toBe('open');
    expect(await probe('outsider', '10.100.0.1', 6443)).toBe('timeout');
    const ALLOWED =
      /artesca_fw_policy_packets\{policy="control-plane-master",endpoint="CP",direction="ingress",decision="allow",family="ipv4"\} (\d+)/;
    const DENIED =
      /artesca_fw_policy_packets\{policy="default",endpoint="CP",direction="ingress",decision="deny",family="ipv4"\} (\d+)/;
    // The counters are read from the kernel at most every 500 ms: wait until a scrape shows both probes.
    let m = await http('/metrics');
    await until(async () => {
      m = await http('/metrics');
      return Number(ALLOWED.exec(m.body)?.[1]) > 0 && Number(DENIED.exec(m.body)?.[1]) > 0;
    }, 3000);
    expect(m.status).toBe(200);
    expect(m.contentType).toMatch(/text\/plain/);
    for (const name of [
      'artesca_fw_applies_total{result="applied",reason="startup"} 1',
      'artesca_fw_apply_duration_seconds_count',
      'artesca_fw_drift_repairs_total 0',
      'artesca_fw_rules{family="ipv4"}',
      'artesca_fw_set_members{set="afw4-cp-all"} 4',
      'artesca_fw_inventory_nodes 3',
      'artesca_fw_ready 1',
    ]) {
      expect(m.body).toContain(name);
    }
    expect(Number(ALLOWED.exec(m.body)?.[1])).toBeGreaterThan(0);
    expect(Number(DENIED.exec(m.body)?.[1])).toBeGreaterThan(0);
    // Tool runs are counted, and keep counting (the set check runs every 1.5 s).
    const runs = () => http('/metrics').then((r) => Number(/artesca_fw_tool_runs_total (\d+)/.exec(r.body)?.[1]));
    const before = await runs();
    expect(before).toBeGreaterThan(0);
    await until(async () => (await runs()) > before, 4000);
  });

  it('artesca-fw status prints a summary of the running agent (and --json)', async () => {
    const r = await L.lab.cli(n1, ['status', '--config', L.configFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^node-1 \[bootstrap, etcd, infra, master, registry\]\s+mode enforce\s+backend nft\s+READY/);
    expect(r.stdout).toContain('endpoint CP: controlPlane on cp0 (10.100.0.1, 10.100.0.100)');
    const j = await L.lab.cli(n1, ['status', '--json', '--url', 'http://127.0.0.1:9900']);
    expect(JSON.parse(j.stdout).node.name).toBe('node-1');
    const down = await L.lab.cli(n1, ['status', '--url', 'http://127.0.0.1:9']);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('AFW_DAEMON_UNREACHABLE');
  });

  it('an inventory edit puts the new rule live (editor rename and in-place rewrite)', async () => {
    const held = await peer['node-2']!.probe('10.100.0.1', 6443, { keep: true });
    expect(held.state).toBe('open');
    const since = d.logs.length;
    const t0 = performance.now();
    const tmp = path.join(L.dir, '.inventory.yaml.swp');
    writeFileSync(tmp, WITHOUT_NODE2);
    renameSync(tmp, path.join(L.dir, 'inventory.yaml'));
    const took = await until(async () => (await probe('node-2', '10.100.0.1', 6443)) === 'timeout', 5000, 10);
    await d.waitFor((l) => l.event === 'apply' && l.reason === 'file change' && l.result === 'applied', 5000, since);
    figures.push(
      `inventory edit (rename) to rule live: ${Math.round(performance.now() - t0)} ms (probe loop ${Math.round(took)} ms)`,
    );
    // The connection node-2 had is cut too, right after the new rules went live.
    const cut = await d.waitFor((l) => l.event === 'connections', 5000, since);
    expect(cut.peers).toEqual(['10.100.0.2', '10.200.0.2']);
    expect(cut.cut).toBeGreaterThanOrEqual(1);
    expect((await peer['node-2']!.use(held.conn!)).state).not.toBe('echoed');
    const t1 = performance.now();
    writeFileSync(path.join(L.dir, 'inventory.yaml'), BASE_INVENTORY); // in place
    await until(async () => (await probe('node-2', '10.100.0.1', 6443)) === 'open', 5000, 10);
    figures.push(`inventory edit (in place) to rule live: ${Math.round(performance.now() - t1)} ms`);
    expect((await status()).inventory.nodes).toBe(3);
  });

  it('an invalid edit keeps the old rules, /readyz says why, and the next good edit applies', async () => {
    const before = await ourRules(L.lab, n1);
    writeFileSync(
      path.join(L.dir, 'inventory.yaml'),
      BASE_INVENTORY.replace('controlPlaneIP: 10.100.0.3', 'controlPlaneIP: 10.100.0.300'),
    );
    await until(async () => (await http('/readyz')).status === 503, 5000);
    const r = JSON.parse((await http('/readyz')).body);
    expect(r.reason).toMatch(/AFW_INVENTORY_INVALID/);
    const s = await status();
    expect(s.lastError.problems[0]).toMatch(
      /inventory\.yaml:13:21: nodes\[2\]\.controlPlaneIP: "10\.100\.0\.300" is not an IP address/,
    );
    expect((await http('/metrics')).body).toContain('artesca_fw_config_valid 0');
    expect(await ourRules(L.lab, n1)).toBe(before);
    expect(await probe('node-2', '10.100.0.1', 6443)).toBe('open');
    expect(await probe('outsider', '10.100.0.1', 6443)).toBe('timeout');
    writeFileSync(path.join(L.dir, 'inventory.yaml'), BASE_INVENTORY);
    await ready();
    expect((await status()).lastError).toBeNull();
  });

  it('repairs drift within 2 s: a flushed chain, a deleted jump rule, a flushed set', async () => {
    const want = await ourRules(L.lab, n1);
    const repairs = (await status()).driftRepairs;
    const cases: [string, string, string[]][] = [
      ['flush AFW-CP-IN', 'iptables-nft', ['-t', 'mangle', '-F', 'AFW-CP-IN']],
      ['delete the PREROUTING jump', 'iptables-nft', ['-t', 'mangle', '-D', 'PREROUTING', '1']],
      ['delete the OUTPUT jump', 'iptables-nft', ['-t', 'filter', '-D', 'OUTPUT', '1']],
      ['flush set afw4-cp-all', 'ipset', ['flush', 'afw4-cp-all']],
      ['flush the whole mangle table', 'iptables-nft', ['-t', 'mangle', '-F']],
    ];
    let n = 0;
    for (const [what, cmd, args] of cases) {
      await L.lab.must(n1, cmd, args);
      expect(await ourRules(L.lab, n1)).not.toBe(want);
      const took = await until(async () => (await ourRules(L.lab, n1)) === want, 2000, 20);
      n++;
      figures.push(`drift "${what}" repaired in ${Math.round(took)} ms`);
    }
    await until(async () => (await status()).driftRepairs >= repairs + n, 2000);
    expect(d.logs.some((l) => l.event === 'apply' && l.reason === 'drift' && l.result === 'repaired')).toBe(true);
    expect((await http('/metrics')).body).toMatch(/artesca_fw_drift_repairs_total [1-9]/);
    // "flush the whole mangle table" also removed the foreign mangle rules: not ours to put back.
    await L.lab.must(n1, 'iptables-nft', ['-t', 'mangle', '-A', 'PREROUTING', '-j', 'cali-PREROUTING']);
    await L.lab.must(n1, 'iptables-nft', [
      '-t',
      'mangle',
      '-A',
      'cali-PREROUTING',
      '-m',
      'conntrack',
      '--ctstate',
      'RELATED,ESTABLISHED',
      '-m',
      'comment',
      '--comment',
      'cali:established',
      '-j',
      'ACCEPT',
    ]);
    await until(async () => (await ourRules(L.lab, n1)) === want, 2000, 20);
    expect(await foreignState(L.lab, n1)).toBe(foreign);
  });

  it('SIGHUP reloads', async () => {
    const since = d.logs.length;
    d.proc.kill('SIGHUP');
    await d.waitFor((l) => l.event === 'apply' && l.reason === 'signal', 5000, since);
  });

  it('kill -9 then restart: the rules stay in force throughout, one jump per built-in chain', async () => {
    const want = await ourRules(L.lab, n1);
    await d.kill('SIGKILL');
    expect(await ourRules(L.lab, n1)).toBe(want);
    expect(await probe('outsider', '10.100.0.1', 9999)).toBe('timeout');
    d = start();
    await d.waitFor((l) => l.event === 'apply' && l.reason === 'state', 10_000);
    await ready();
    expect(await ourRules(L.lab, n1)).toBe(want);
    for (const [table, chain, target] of [
      ['mangle', 'PREROUTING', 'AFW-PREROUTING'],
      ['filter', 'OUTPUT', 'AFW-OUTPUT'],
    ]) {
      const lines = (await L.lab.must(n1, 'iptables-nft-save', ['-t', table!]))
        .split('\n')
        .filter((l) => l.startsWith(`-A ${chain} `));
      expect(lines.filter((l) => l.includes(target!))).toHaveLength(1);
      expect(lines[0]).toContain(target);
    }
    expect(await foreignState(L.lab, n1)).toBe(foreign);
  });

  it('SIGTERM stops the agent and leaves the rules in force', async () => {
    const want = await ourRules(L.lab, n1);
    const exit = await d.kill('SIGTERM');
    expect(exit.code).toBe(0);
    expect(await ourRules(L.lab, n1)).toBe(want);
    expect(await probe('outsider', '10.100.0.1', 9999)).toBe('timeout');
    d = start();
    await ready();
  });
});

describe('the daemon with an interface that comes late', () => {
  let L: NodeLab;
  let d: DaemonProc | undefined;
  afterAll(async () => {
    await d?.kill('SIGKILL');
    await L?.cleanup();
  });

  it('waits for the plane interface, then applies without a restart', async () => {
    L = await buildNodeLab({
      foreign: false,
      config: edit(BASE_CONFIG, [['    cidr: 10.200.0.0/24', '    interface: wp9']]).replace('data: [10.200.0.100]', 'data: []'),
    });
    const n1 = L.ns['node-1']!;
    const p = L.lab.peer(n1);
    d = new DaemonProc(n1, ['--config', L.configFile]);
    await d.waitFor((l) => l.event === 'apply' && l.reason === 'startup');
    // Not ready, first while starting (watchers, the NFLOG reader), then for the interface.
    let last = { status: 0, body: '' };
    await until(async () => {
      last = await p.http('http://127.0.0.1:9900/readyz');
      return /waiting for workloadPlane: interface wp9/.test(last.body);
    }, 5000).catch((err: Error) => {
      throw new Error(`${err.message}: /readyz ${last.status} ${last.body}`);
    });
    expect(last.status).toBe(503);
    expect(await ourRules(L.lab, n1)).not.toContain('AFW-WP-IN');
    const t0 = performance.now();
    await L.lab.veth(n1, 'wp9', L.ns.outsider!, 'wp9x');
    await L.lab.addr(n1, 'wp9', '10.201.0.1/24');
    await until(async () => (await p.http('http://127.0.0.1:9900/readyz')).status === 200, 5000);
    await d.waitFor((l) => l.event === 'apply' && l.reason === 'interface change');
    console.log(`late interface picked up in ${Math.round(performance.now() - t0)} ms`);
    expect(await ourRules(L.lab, n1)).toContain('-i wp9 ');
  });
});
