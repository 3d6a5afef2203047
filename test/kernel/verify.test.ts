// `artesca-fw verify` on a cluster of namespaces with the real agent in every
// node: from each node and from an outsider, every peer answers as its policy
// says, under denyAction drop and reject; then faults planted by hand are
// each reported with node, address and port: a foreign ACCEPT ahead of our
// jump, a raw-table DROP of an allowed port, an agent flushed, a node whose
// inventory lacks a peer.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { Cluster, FOUR_NODES } from '../../scripts/lab/cluster.js';
import { until } from '../../scripts/lab/daemon.js';
import { PROBES } from '../../scripts/lab/expectations.js';
import { requireKernelTests } from '../../scripts/lab/netns.js';

requireKernelTests();

const NODES = FOUR_NODES;
const OUTSIDER = { cp: '10.100.0.250', wp: '10.200.0.250' };
const TCP_PORTS = [...new Set(PROBES.filter((p) => p.proto === 'tcp').map((p) => p.port))];

interface Mismatch {
  node: string;
  proto: string;
  address: string;
  port: number;
  expected: string;
  actual: string;
  rule: string;
}
interface Report {
  probes: number;
  asExpected: number;
  mismatches: Mismatch[];
  vips: { address: string; holder: string | null; how: string }[];
  notJudged: unknown[];
  notProbed: number;
  skipped: { proto: string; address?: string }[];
  results: { node: string; address: string; port: number; vip?: boolean }[];
}
/** Held by node-2 (master, etcd, infra; not registry): its policy, not node-1's, decides what the VIPs answer. */
const VIPS = { management: ['10.100.0.100'], data: ['10.200.0.100'] };

describe('verify', () => {
  let c: Cluster;
  const verify = async (from: string, ...args: string[]) => {
    const config = c.configFiles[from === 'outsider' ? 'node-1' : from]!;
    const r = await c.lab.cli(c.ns[from]!, ['verify', '--json', '--config', config, ...args]);
    expect(r.stderr).not.toMatch(/AFW_/);
    return { code: r.code, report: JSON.parse(r.stdout) as Report };
  };
  const intact = async (label: string) => {
    for (const n of [...NODES.map((x) => x.name), 'outsider']) {
      const { code, report } = await verify(n, ...(n === 'outsider' ? ['--outside', '--inventory', c.inventoryFile] : []));
      expect(
        report.mismatches.map((m) => `${m.node} ${m.address}:${m.port} ${m.expected}/${m.actual}`),
        `${label}: from ${n}`,
      ).toEqual([]);
      expect(code).toBe(0);
      expect(report.probes).toBeGreaterThan(n === 'outsider' ? 60 : 40);
      // Where the VIPs live is found from the neighbour table; on node-2 they are local and not probed.
      expect(report.vips.map((v) => `${v.address} ${v.holder}`).sort(), `${label}: from ${n}`).toEqual([
        '10.100.0.100 node-2',
        '10.200.0.100 node-2',
      ]);
      expect(report.notJudged).toEqual([]);
      // UDP is probed (a closed port answers port unreachable); VRRP cannot be, and says so.
      expect(report.results.some((r) => (r as { proto?: string }).proto === 'udp')).toBe(true);
      expect(report.skipped.some((x) => x.proto === 'vrrp')).toBe(true);
      expect(report.notProbed).toBe(report.skipped.length);
      const vipProbes = report.results.filter((r) => r.vip);
      if (n === 'node-2') expect(vipProbes).toEqual([]);
      else expect(vipProbes.length).toBeGreaterThan(10);
    }
  };

  beforeAll(async () => {
    c = await Cluster.start({ nodes: NODES, outsider: OUTSIDER, vips: VIPS, vipHolder: 'node-2', tag: 'vfy' });
    for (const n of [...NODES.map((x) => x.name), 'outsider']) await c.peers[n]!.listen('tcp', ...TCP_PORTS);
  }, 120_000);
  afterAll(async () => {
    await c?.stop();
  });

  it('the intact cluster: every probe from every node and from the outsider answers as the policies say, with drop and with reject', async () => {
    await intact('drop');
    for (const n of NODES) {
      const file = c.configFiles[n.name]!;
      writeFileSync(file, `${readFileSync(file, 'utf8')}denyAction: reject\n`);
    }
    for (const n of NODES)
      await until(async () => /AFW-REJECT/.test(await c.lab.must(c.ns[n.name]!, 'iptables-nft-save', ['-t', 'filter'])), 10_000);
    // A refused connection is now answered, and not with a reset: it reads as filtered, not as a closed port.
    const refused = await c.peers.outsider!.probe('10.100.0.1', 9999, { timeoutMs: 400 });
    expect([refused.state, refused.code]).toEqual(['refused', 'EHOSTUNREACH']); // ICMP administratively prohibited
    expect((await c.peers.outsider!.probe('10.100.0.1', 9998, { timeoutMs: 400 })).code).toBe('EHOSTUNREACH');
    await intact('reject');

    // The daemon's own runs (verify.intervalSeconds): the last result in /status and the metrics.
    const file = c.configFiles['node-1']!;
    writeFileSync(file, `${readFileSync(file, 'utf8')}verify:\n  intervalSeconds: 10\n`);
    const status = async () => JSON.parse((await c.peers['node-1']!.http('http://127.0.0.1:9900/status')).body);
    await until(async () => (await status()).verify.last !== null, 20_000, 200);
    const s = (await status()).verify;
    expect(s).toMatchObject({ intervalSeconds: 10, last: { mismatches: 0, examples: [] } });
    expect(s.last.probes).toBeGreaterThan(40);
    const metrics = (await c.peers['node-1']!.http('http://127.0.0.1:9900/metrics')).body;
    expect(metrics).toMatch(/^artesca_fw_verify_mismatches 0$/m);
    expect(metrics).toMatch(new RegExp(`^artesca_fw_verify_probes ${s.last.probes}$`, 'm'));
  });

  it('--peer: only the probes of the peers named; a name or address the membership lacks is a usage error', async () => {
    const { code, report } = await verify('node-1', '--peer', 'node-3', '--peer', '10.100.0.100');
    expect(code).toBe(0);
    expect([...new Set(report.results.map((r) => `${r.node} ${r.address}`))].sort()).toEqual([
      'node-2 10.100.0.100',
      'node-3 10.100.0.3',
      'node-3 10.200.0.3',
    ]);
    for (const peer of ['10.100.0.77', 'node-9']) {
      const r = await c.lab.cli(c.ns['node-1']!, ['verify', '--config', c.configFiles['node-1']!, '--peer', peer]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`--peer ${peer}: no member has this (address|name).*node-1 10\\.100\\.0\\.1`));
    }
  });

  it('faults planted by hand are each reported with node, address and port, and exit 1', async () => {
    // node-2: a foreign ACCEPT ahead of our jump (its agent stopped first, or it would take the top back).
    await c.daemons['node-2']!.kill('SIGTERM');
    await c.lab.must(c.ns['node-2']!, 'iptables-nft', [
      '-t',
      'mangle',
      '-I',
      'PREROUTING',
      '1',
      '-p',
      'tcp',
      '--dport',
      '9999',
      '-j',
      'ACCEPT',
    ]);
    // node-3: a DROP of an allowed port in the raw table (ours is never looked at there).
    await c.lab.must(c.ns['node-3']!, 'iptables-nft', [
      '-t',
      'raw',
      '-A',
      'PREROUTING',
      '-p',
      'tcp',
      '--dport',
      '10256',
      '-j',
      'DROP',
    ]);
    // node-4: its agent stopped and flushed.
    await c.daemons['node-4']!.kill('SIGTERM');
    expect((await c.lab.cli(c.ns['node-4']!, ['flush', '--config', c.configFiles['node-4']!])).code).toBe(0);
    // node-3: an inventory that lacks node-1.
    const stale = path.join(c.dir, 'stale-inventory.yaml');
    writeFileSync(
      stale,
      stringify({
        apiVersion: 'artesca-fw/v1',
        nodes: NODES.filter((n) => n.name !== 'node-1').map((n) => ({
          name: n.name,
          roles: n.roles,
          controlPlaneIP: n.cp,
          workloadPlaneIP: n.wp,
        })),
      }),
    );
    const cfg3 = c.configFiles['node-3']!;
    writeFileSync(cfg3, readFileSync(cfg3, 'utf8').replace(c.inventoryFile, stale));
    await until(
      async () => !/^10\.100\.0\.1$/m.test(await c.lab.must(c.ns['node-3']!, 'ipset', ['list', 'afw4-cp-all'])),
      10_000,
    );

    const { code, report } = await verify('node-1');
    expect(code).toBe(1);
    // The daemon's next run sees them too (every 10 s since the first test).
    const runAt = Date.now();
    const last = async () => JSON.parse((await c.peers['node-1']!.http('http://127.0.0.1:9900/status')).body).verify.last;
    await until(async () => Date.parse((await last()).at) - (await last()).durationMs > runAt, 25_000, 200);
    expect((await last()).mismatches).toBe(report.mismatches.length);
    expect((await c.peers['node-1']!.http('http://127.0.0.1:9900/metrics')).body).toMatch(
      new RegExp(`^artesca_fw_verify_mismatches ${report.mismatches.length}$`, 'm'),
    );
    const seen = (node: string, address: string, port: number, expected: string, actual: string) =>
      report.mismatches.some(
        (m) => m.node === node && m.address === address && m.port === port && m.expected === expected && m.actual === actual,
      );
    expect(seen('node-2', '10.100.0.2', 9999, 'filtered', 'reached'), JSON.stringify(report.mismatches)).toBe(true);
    expect(seen('node-2', '10.100.0.100', 9999, 'filtered', 'reached')).toBe(true); // the VIP it holds, too
    expect(seen('node-3', '10.100.0.3', 10256, 'reached', 'filtered')).toBe(true);
    expect(seen('node-4', '10.100.0.4', 9999, 'filtered', 'reached')).toBe(true);
    // UDP too: the flushed node's unlisted UDP port answers "port unreachable".
    expect(
      report.mismatches.some((m) => m.node === 'node-4' && m.proto === 'udp' && m.port === 9999 && m.actual === 'reached'),
    ).toBe(true);
    expect(seen('node-3', '10.100.0.3', 10250, 'reached', 'filtered')).toBe(true); // kubelet, from any control-plane member
    // Each mismatch names the rule that should decide on the peer.
    expect(report.mismatches.find((m) => m.node === 'node-4' && m.port === 9999)!.rule).toMatch(
      /node-4 ingress: default deny: controlPlane ingress/,
    );
    // The text: mismatches first, then the matrix.
    const text = await c.lab.cli(c.ns['node-1']!, ['verify', '--config', c.configFiles['node-1']!]);
    expect(text.code).toBe(1);
    expect(text.stdout.split('\n')[2]).toMatch(/^MISMATCHES/);
    expect(text.stdout).toMatch(/node-4 10\.100\.0\.4 controlPlane tcp\/9999: expected filtered, actual reached/);
    expect(text.stdout).toMatch(/^ {2}node-4 10\.100\.0\.4 +.*!/m);
    expect(text.stdout).toMatch(/^ {2}node-2 10\.100\.0\.100 \(VIP\) +.*!/m);
    expect(text.stdout).toMatch(/^VIP 10\.100\.0\.100 \(controlPlane\): held by node-2; /m);
  });

  it('bad input: a config that does not validate, --outside without an inventory, an inventory with a peer address that is none', async () => {
    const bad = path.join(c.dir, 'bad.yaml');
    writeFileSync(bad, readFileSync(c.configFiles['node-1']!, 'utf8').replace(/mode: \w+|$/, 'mode: enforced\n'));
    const r = await c.lab.cli(c.ns['node-1']!, ['verify', '--config', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${bad}:\\d+:\\d+: mode: must be enforce or audit`));
    const o = await c.lab.cli(c.ns.outsider!, ['verify', '--outside', '--config', c.configFiles['node-1']!]);
    expect(o.code).toBe(2);
    expect(o.stderr).toMatch(/--outside needs --inventory FILE/);
    // An inventory naming a peer address that is no address: file, line and field.
    const inv = path.join(c.dir, 'bad-inventory.yaml');
    writeFileSync(inv, readFileSync(c.inventoryFile, 'utf8').replace('10.100.0.3', '10.100.0.300'));
    const i = await c.lab.cli(c.ns.outsider!, ['verify', '--outside', '--inventory', inv, '--config', c.configFiles['node-1']!]);
    expect(i.code).toBe(1);
    expect(i.stderr).toMatch(new RegExp(`${inv}:\\d+:\\d+: nodes\\[2\\]\\.controlPlaneIP: `));
  });
});
