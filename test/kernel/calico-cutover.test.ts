// The runbook of docs/migrating-from-calico.md, end to end, on a cluster of
// namespaces with the real agent in every node: rules shaped like Felix's and
// kube-proxy's are the neighbours, a writer keeps Felix's jumps where Felix
// would (insert mode, then append); the Calico resources are imported, the
// agents run in audit mode beside Felix, `denied` and `preview` are read
// until clean, the nodes enforce, the host endpoints go (the writer stops and
// Felix's host-endpoint chains empty, as Felix does), and the seed matrix is
// probed at the end, with no allowed connection lost on the way.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { Cluster, type ClusterNode, type Role } from '../../scripts/lab/cluster.js';
import { until } from '../../scripts/lab/daemon.js';
import { PROBES } from '../../scripts/lab/expectations.js';
import { formatRow, runMatrix, type Source, type Target } from '../../scripts/lab/matrix.js';
import { BIN, requireKernelTests } from '../../scripts/lab/netns.js';
import { loadFelix, startFelixWriter } from '../helpers/felix.js';
import { BASE_CONFIG, tempDir } from '../helpers/fixtures.js';

requireKernelTests();

/** The nodes of the seed fixture's host endpoints (test/fixtures/calico/seed.yaml). */
const NODES: ClusterNode[] = [
  { name: 'node-1', roles: ['bootstrap', 'master', 'etcd', 'infra', 'registry'], cp: '10.100.0.1', wp: '10.200.0.1' },
  { name: 'node-2', roles: ['master', 'etcd', 'infra'], cp: '10.100.0.2', wp: '10.200.0.2' },
  { name: 'node-3', roles: [], cp: '10.100.0.3', wp: '10.200.0.3' },
];
const OUTSIDER = { cp: '10.100.0.250', wp: '10.200.0.250' };
const TCP_PORTS = [...new Set(PROBES.filter((p) => p.proto === 'tcp').map((p) => p.port))];

/** kube-proxy's chains, as a neighbour (the service rules do not matter here, their presence does). */
const KUBE_PROXY = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
COMMIT
*filter
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
-A INPUT -j KUBE-FIREWALL
-A OUTPUT -j KUBE-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
COMMIT
`;

describe('cutover from Calico: the runbook end to end', () => {
  let c: Cluster;
  const tmp = tempDir('afw-cutover-');
  const modeFile = path.join(tmp.dir, 'felix-mode');
  const writers: ReturnType<typeof startFelixWriter>[] = [];
  const names = NODES.map((n) => n.name);
  const status = async (n: string) => JSON.parse((await c.peers[n]!.http('http://127.0.0.1:9900/status')).body);
  const cli = (n: string, ...args: string[]) => c.lab.cli(c.ns[n]!, [...args, '--config', c.configFiles[n]!]);
  const topConflicts = async (n: string) => ((await status(n)).conflicts as { chain?: string }[]).filter((x) => x.chain);
  /** Connections opened while Calico alone decided, that the policy allows: they must survive every step. */
  const held: { from: string; conn: number; what: string }[] = [];

  beforeAll(async () => {
    // 1-2. Export (the fixture, with the failsafe ports artesca-fw would have by default) and import.
    const seed = parse(readFileSync(new URL('../fixtures/calico/seed.yaml', import.meta.url), 'utf8')) as {
      items: { kind: string; spec: Record<string, unknown> }[];
    };
    const felix = seed.items.find((i) => i.kind === 'FelixConfiguration')!;
    felix.spec.failsafeInboundHostPorts = [{ protocol: 'UDP', port: 68 }];
    felix.spec.failsafeOutboundHostPorts = [];
    const exported = path.join(tmp.dir, 'calico.yaml');
    writeFileSync(exported, stringify(seed));
    const importConfig = path.join(tmp.dir, 'config.yaml');
    writeFileSync(importConfig, BASE_CONFIG);
    const imported = path.join(tmp.dir, 'imported.yaml');
    const r = spawnSync(BIN, ['import', 'calico', exported, '--config', importConfig, '--output', imported], {
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.split('\n').filter((l) => /^(same|changed|added|missing):/.test(l))).toHaveLength(7);
    expect(r.stderr).not.toMatch(/^(changed|added|missing):/m);
    const { policies, failsafe } = parse(readFileSync(imported, 'utf8')) as { policies: unknown[]; failsafe: unknown };
    expect(failsafe).toEqual({ inbound: ['udp:68'], outbound: [] });

    // 3-5. The agents in audit mode with the import, beside Felix (insert mode) and kube-proxy.
    writeFileSync(modeFile, 'insert');
    c = await Cluster.start({
      nodes: NODES,
      outsider: OUTSIDER,
      tag: 'cut',
      extra: { mode: 'audit', policies, failsafe },
      beforeAgents: async (cl) => {
        for (const n of names) {
          await loadFelix(cl.lab, cl.ns[n]!);
          await cl.lab.must(cl.ns[n]!, 'iptables-nft-restore', ['--noflush'], { input: KUBE_PROXY });
          writers.push(startFelixWriter(cl.lab, cl.ns[n]!, modeFile, 'insert'));
        }
        for (const n of [...names, 'outsider']) {
          await cl.peers[n]!.listen('tcp', ...TCP_PORTS);
          await cl.peers[n]!.listen('udp', 123, 9999);
        }
        // Allowed connections made under Calico alone (before any agent), kept open throughout.
        for (const [from, to, port, what] of [
          ['node-2', '10.100.0.1', 6443, 'kube-apiserver'],
          ['node-1', '10.100.0.2', 2380, 'etcd peer'],
          ['outsider', '10.200.0.3', 443, 'S3 ingress'],
        ] as const) {
          const p = (await cl.peers[from]!.probe(to, port, { keep: true, timeoutMs: 400 })) as { state: string; conn?: number };
          expect(p.state, what).toBe('open');
          held.push({ from, conn: p.conn!, what });
        }
      },
    });
  }, 180_000);
  afterAll(async () => {
    for (const w of writers) w.kill('SIGKILL');
    await c?.stop();
    tmp.cleanup();
  });

  const heldStillWork = async () => {
    for (const h of held) expect((await c.peers[h.from]!.use(h.conn)).state, h.what).toBe('echoed');
  };

  it('follows the runbook: audit beside Felix, append, clean, enforce, host endpoints gone, the seed matrix holds', async () => {
    // Felix in insert mode keeps the top: each agent yields it and says so; in audit mode, the record cannot see past Felix.
    for (const n of names) {
      await until(async () => (await topConflicts(n)).length > 0, 30_000, 200);
      expect((await status(n)).auditHidden.length).toBeGreaterThan(0);
    }
    // 4. Felix set to append: the conflicts clear by themselves and nothing hides the record.
    writeFileSync(modeFile, 'append');
    for (const n of names) {
      await until(async () => (await topConflicts(n)).length === 0 && (await status(n)).auditHidden.length === 0, 30_000, 200);
    }
    await heldStillWork();

    // 6. Audit: what enforce would refuse is recorded and previewed.
    expect((await c.peers.outsider!.probe('10.100.0.1', 9999, { timeoutMs: 400 })).state).toBe('open');
    await until(async () => {
      const r = await cli('node-1', 'denied', '--json');
      return (JSON.parse(r.stdout).flows as { peer: string; port: number }[]).some(
        (f) => f.peer === '10.100.0.250' && f.port === 9999,
      );
    }, 5000);
    const preview = await cli('node-1', 'preview', '--json');
    expect(preview.code, preview.stderr).toBe(1);
    expect(JSON.parse(preview.stdout).cuts.map((x: { peer: string; port: number }) => `${x.peer}:${x.port}`)).toContain(
      '10.100.0.250:9999',
    );
    // Not needed: left refused. The record starts again, and the flow ends (the operator waits; here its entry goes).
    for (const n of names) expect((await cli(n, 'denied', '--reset')).code).toBe(0);
    await c.lab.exec(c.ns['node-1']!, 'conntrack', ['-D', '-s', '10.100.0.250', '-p', 'tcp', '--dport', '9999']);
    // Clean: nothing held open would be refused, nothing refused since the reset (the cluster's own traffic only).
    for (const n of names) {
      const p = await cli(n, 'preview', '--json');
      expect(p.code, `${n}: ${p.stdout}`).toBe(0);
      expect(
        JSON.parse((await cli(n, 'denied', '--json')).stdout).flows.filter(
          (f: { proto: string }) => f.proto === 'tcp' || f.proto === 'udp',
        ),
      ).toEqual([]);
    }
    await heldStillWork();

    // 7. Enforce, node by node (the config file edited; each agent follows it).
    for (const n of names) {
      writeFileSync(c.configFiles[n]!, readFileSync(c.configFiles[n]!, 'utf8').replace('mode: audit', 'mode: enforce'));
      await until(async () => (await status(n)).mode === 'enforce', 10_000, 100);
      await heldStillWork();
    }
    expect((await c.peers.outsider!.probe('10.100.0.1', 9999, { timeoutMs: 400 })).state).toBe('timeout');

    // 8. The host endpoints go: the writer stops and Felix's host-endpoint chains empty, as Felix does.
    for (const w of writers) w.kill('SIGKILL');
    const repairsBefore = await Promise.all(names.map(async (n) => (await status(n)).driftRepairs as number));
    for (const n of names) {
      for (const tool of ['iptables-nft', 'ip6tables-nft']) {
        for (const [table, chain] of [
          ['raw', 'cali-from-host-endpoint'],
          ['raw', 'cali-to-host-endpoint'],
          ['mangle', 'cali-from-host-endpoint'],
          ['filter', 'cali-from-host-endpoint'],
          ['filter', 'cali-to-host-endpoint'],
        ]) {
          await c.lab.must(c.ns[n]!, tool, ['-t', table!, '-F', chain!]);
        }
      }
    }
    await heldStillWork();

    // 9. Verify: the seed matrix from every node and the outsider, as policies.md says; nothing of ours was touched.
    const targets: Target[] = NODES.map((n) => ({ label: n.name, node: n.name, roles: n.roles as Role[], cp: n.cp, wp: n.wp }));
    const sources: Source[] = [
      ...NODES.map((n) => ({ name: n.name, roles: n.roles as Role[], inInventory: true })),
      { name: 'outsider', roles: [] as Role[], inInventory: false },
    ];
    const rows = await runMatrix(c, targets, sources);
    expect(rows.length).toBeGreaterThan(200);
    expect(rows.filter((x) => x.expected !== x.actual).map(formatRow)).toEqual([]);
    for (const [i, n] of names.entries()) {
      const s = await status(n);
      expect(s.driftRepairs, `${n}: Felix's changes are not ours to repair`).toBe(repairsBefore[i]);
      expect((await cli(n, 'diff')).code).toBe(0);
    }
    await heldStillWork();
  });
});
