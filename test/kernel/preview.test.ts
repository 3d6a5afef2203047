// `artesca-fw preview` on a live host: node-1 runs in audit mode with
// connections held open from node-2, node-3 and an outsider (one DNAT-ed to a
// pod through a hostPort); preview of the enforce config lists exactly the
// refused ones, exits 1 and changes nothing; once enforced, a new connection
// of every listed pair is refused and every other pair still connects.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Peer, requireKernelTests } from '../../scripts/lab/netns.js';
import { BASE_CONFIG, BASE_INVENTORY, edit } from '../helpers/fixtures.js';
import { buildNodeLab, foreignState, type NodeLab, ourRules } from '../helpers/node-lab.js';

requireKernelTests();

interface Pair {
  from: 'node-2' | 'node-3' | 'outsider';
  to: string;
  port: number;
  proto: 'tcp' | 'udp';
  /** Refused by the enforce config. */
  refused: boolean;
}

const FROM: Record<Pair['from'], string> = { 'node-2': '10.100.0.2', 'node-3': '10.100.0.3', outsider: '10.100.0.50' };
const PAIRS: Pair[] = [
  { from: 'node-2', to: '10.100.0.1', port: 2379, proto: 'tcp', refused: false },
  { from: 'node-2', to: '10.100.0.1', port: 6443, proto: 'tcp', refused: false },
  { from: 'node-2', to: '10.100.0.1', port: 9999, proto: 'tcp', refused: true },
  { from: 'node-3', to: '10.100.0.1', port: 2379, proto: 'tcp', refused: true },
  { from: 'outsider', to: '10.100.0.1', port: 22, proto: 'tcp', refused: true },
  { from: 'outsider', to: '10.100.0.1', port: 6443, proto: 'tcp', refused: true },
  { from: 'outsider', to: '10.100.0.1', port: 9999, proto: 'udp', refused: true },
  { from: 'outsider', to: '10.100.0.1', port: 68, proto: 'udp', refused: false }, // failsafe udp:68
  // hostPorts DNAT-ed to the pod behind node-1 (node-lab's foreign nat rules): judged on the node's port.
  { from: 'outsider', to: '10.200.0.1', port: 443, proto: 'tcp', refused: false },
  { from: 'outsider', to: '10.200.0.1', port: 9999, proto: 'tcp', refused: true },
];
const key = (peer: string, proto: string, port: number) => `${peer} ${proto}/${port}`;
/** Each peer reaches a plane address from its own address on that plane. */
const peerAddress = (p: Pair) => (p.to.startsWith('10.200.') ? FROM[p.from].replace('10.100.', '10.200.') : FROM[p.from]);

interface Cut {
  direction: string;
  plane: string;
  peer: string;
  proto: string;
  port: number;
  entries: number;
  rule: string;
  breaks: string;
}

describe('preview', () => {
  let L: NodeLab;
  let n1: string;
  let peer: Record<string, Peer>;
  const cli = (...args: string[]) => L.lab.cli(n1, args);
  const write = (name: string, text: string) => {
    const f = path.join(L.dir, name);
    writeFileSync(f, text);
    return f;
  };
  const everything = async () => `${await ourRules(L.lab, n1)}\n${await foreignState(L.lab, n1)}`;
  const open = (p: Pair) => peer[p.from]!.probe(p.to, p.port, { proto: p.proto, timeoutMs: 400 }).then((r) => r.state);
  /** Connects and keeps the connection open: its number, to use it later. */
  const hold = async (p: Pair) => {
    const r = (await peer[p.from]!.probe(p.to, p.port, { proto: p.proto, timeoutMs: 400, keep: true })) as {
      state: string;
      conn?: number;
    };
    expect(r.state, `${p.from} -> ${p.to} ${p.proto}/${p.port}`).toBe('open');
    return r.conn;
  };

  beforeAll(async () => {
    L = await buildNodeLab(); // with the foreign rules: kube-proxy-style hostPort DNAT to the pod
    n1 = L.ns['node-1']!;
    peer = L.peers();
    await peer['node-1']!.listen('tcp', 22, 2379, 6443, 9999);
    await peer['node-1']!.listen('udp', 68, 9999);
    await peer.pod!.listen('tcp', 8443);
  });
  afterAll(async () => {
    await L?.cleanup();
  });

  it('lists exactly the held flows the enforce config refuses, exits 1, changes nothing; enforced, those pairs are refused and the others connect', async () => {
    const audit = write('audit.yaml', BASE_CONFIG.replace('mode: enforce', 'mode: audit'));
    const enforce = write('enforce.yaml', BASE_CONFIG);
    expect((await cli('apply', '--config', audit)).code).toBe(0);
    // Audit lets everything through: every pair connects, and the TCP ones stay open.
    const held = new Map<Pair, number | undefined>();
    for (const p of PAIRS) held.set(p, await hold(p));

    const before = await everything();
    const t0 = performance.now();
    const r = await cli('preview', '--config', enforce, '--json');
    const took = performance.now() - t0;
    expect(r.code, r.stderr).toBe(1);
    const out = JSON.parse(r.stdout) as { judgedAs: string; checked: number; cuts: Cut[] };
    expect(out.judgedAs).toBe('enforce');
    expect(out.checked).toBeGreaterThanOrEqual(PAIRS.length);
    const listed = out.cuts.map((c) => key(c.peer, c.proto, c.port)).sort();
    const refused = PAIRS.filter((p) => p.refused)
      .map((p) => key(peerAddress(p), p.proto, p.port))
      .sort();
    expect(listed).toEqual(refused);
    expect(out.cuts.find((c) => c.port === 9999 && c.proto === 'tcp' && c.plane === 'workloadPlane')).toMatchObject({
      direction: 'ingress',
      rule: 'default deny: workloadPlane ingress',
    });
    expect(out.cuts.find((c) => c.peer === '10.100.0.3')).toMatchObject({
      plane: 'controlPlane',
      rule: 'default deny: controlPlane ingress',
      breaks: 'at its next connection',
    });
    // Reads only: rules, jumps, sets, and everyone else's rules, as they were.
    expect(await everything()).toBe(before);
    const text = await cli('preview', '--config', enforce);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/6 would be refused:\n/);
    expect(text.stdout).toMatch(
      /\n {2}ingress controlPlane 10\.100\.0\.3 tcp\/2379: 1 entry, default deny: controlPlane ingress; breaks at its next connection\n/,
    );
    console.log(
      `preview of ${out.checked} tracked flows: ${out.cuts.length} refused keys in ${Math.round(took)} ms (process start included)`,
    );

    // Enforced: a new connection of every listed pair is refused, every other pair connects.
    expect((await cli('apply', '--config', enforce)).code).toBe(0);
    for (const p of PAIRS) {
      expect(await open(p), `${p.from} -> ${p.to} ${p.proto}/${p.port} enforced`).toBe(p.refused ? 'timeout' : 'open');
    }
    // A listed connection that was open before the switch goes on (conntrack accepts it): it breaks at its next connection.
    const ssh = PAIRS.find((p) => p.port === 22)!;
    expect((await peer[ssh.from]!.use(held.get(ssh)!)).state).toBe('echoed');
  });

  it('a candidate that takes a peer out of a role: its flows are listed, cut at once (its connections are cut when the set changes)', async () => {
    const enforce = write('enforce.yaml', BASE_CONFIG);
    expect((await cli('apply', '--config', enforce)).code).toBe(0);
    const node2 = PAIRS[0]!; // node-2 -> 2379, allowed while node-2 is an etcd member
    const conn = await hold(node2);
    const inventory = write(
      'inventory-no-etcd.yaml',
      edit(BASE_INVENTORY, [
        [
          'roles: [master, etcd, infra]\n    controlPlaneIP: 10.100.0.2',
          'roles: [master, infra]\n    controlPlaneIP: 10.100.0.2',
        ],
      ]),
    );
    const candidate = write('candidate.yaml', BASE_CONFIG.replace('file: inventory.yaml', `file: ${inventory}`));
    const before = await everything();
    const r = await cli('preview', '--config', candidate, '--json');
    expect(r.code, r.stderr).toBe(1);
    const cut = (JSON.parse(r.stdout).cuts as Cut[]).find((c) => c.peer === '10.100.0.2' && c.port === 2379);
    expect(cut).toMatchObject({ direction: 'ingress', proto: 'tcp', breaks: 'at once (revoked peer: its connections are cut)' });
    expect(await everything()).toBe(before);
    // And so it goes: applied, the held connection is cut and a new one refused.
    expect((await peer['node-2']!.use(conn!)).state).toBe('echoed'); // before: the held connection works
    expect((await cli('apply', '--config', candidate)).code).toBe(0);
    expect((await peer['node-2']!.use(conn!)).state).not.toBe('echoed');
    expect(await open(node2)).toBe('timeout');
    expect((await cli('apply', '--config', enforce)).code).toBe(0);
  });

  it('bad input: a config that does not validate is refused with file, line and field, and nothing live changes', async () => {
    const bad = write('bad.yaml', BASE_CONFIG.replace('mode: enforce', 'mode: enforced'));
    const before = await everything();
    const r = await cli('preview', '--config', bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${bad.replace(/[.]/g, '\\.')}:\\d+:\\d+: mode: `));
    expect(await everything()).toBe(before);
  });
});
