// The record of denied flows on a live node: node-1 runs the real daemon;
// node-2, node-3 and an outsider make connections, some allowed, some refused.
// The record holds exactly the refused ones (peer, proto, port, rule), in audit
// and in enforce mode, survives a restart, stays within maxFlows under 10,000
// distinct keys, is emptied by --reset, and a damaged record file is refused
// without keeping the agent from enforcing.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProc, until } from '../../scripts/lab/daemon.js';
import { type Peer, requireKernelTests } from '../../scripts/lab/netns.js';
import { BASE_CONFIG } from '../helpers/fixtures.js';
import { buildNodeLab, type NodeLab } from '../helpers/node-lab.js';

requireKernelTests();

interface FlowOut {
  direction: string;
  plane: string;
  peer: string;
  proto: string;
  port: number | null;
  packets: number;
  firstSeen: string;
  lastSeen: string;
  rule: string;
}
interface View {
  mode: string;
  since: string;
  overflow: number;
  cleanSince: string | null;
  flows: FlowOut[];
}

type From = 'node-2' | 'node-3' | 'outsider';
const ADDR: Record<From, string> = { 'node-2': '10.100.0.2', 'node-3': '10.100.0.3', outsider: '10.100.0.50' };
/** The same pairs as the preview test: what BASE_CONFIG refuses and allows on node-1's control plane. */
const PAIRS: { from: From; port: number; proto: 'tcp' | 'udp'; refused: boolean }[] = [
  { from: 'node-2', port: 2379, proto: 'tcp', refused: false },
  { from: 'node-2', port: 6443, proto: 'tcp', refused: false },
  { from: 'node-2', port: 9999, proto: 'tcp', refused: true },
  { from: 'node-3', port: 2379, proto: 'tcp', refused: true },
  { from: 'outsider', port: 22, proto: 'tcp', refused: true },
  { from: 'outsider', port: 6443, proto: 'tcp', refused: true },
  { from: 'outsider', port: 9999, proto: 'udp', refused: true },
  { from: 'node-3', port: 9999, proto: 'udp', refused: true },
  { from: 'outsider', port: 68, proto: 'udp', refused: false }, // failsafe udp:68
];
/** A policy's deny rule decides node-1's egress to tcp/2525 (the record names it, not the default deny). */
const WITH_DENY = BASE_CONFIG.replace(
  'policies: []',
  'policies:\n  - name: no-smtp-out\n    order: 0\n    appliesTo: { plane: controlPlane }\n    egress:\n      - action: deny\n        protocol: tcp\n        ports: [2525]',
);
const keyOf = (peer: string, proto: string, port: number | null) => `${peer} ${proto}/${port}`;
const REFUSED = PAIRS.filter((p) => p.refused)
  .map((p) => keyOf(ADDR[p.from], p.proto, p.port))
  .sort();

describe('the record of denied flows', () => {
  let L: NodeLab;
  let n1: string;
  let peer: Record<string, Peer>;
  let daemon: DaemonProc | null = null;
  const http = (p: string) => peer['node-1']!.http(`http://127.0.0.1:9900${p}`);
  const cli = (...args: string[]) => L.lab.cli(n1, [...args, '--config', L.configFile]);
  const denied = async (...args: string[]): Promise<View> => {
    const r = await cli('denied', '--json', ...args);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as View;
  };
  /**
   * The TCP and UDP flows of the record. Other protocols are in it too when the
   * ruleset refuses them: the namespaces' own IGMP reports, for one, which the
   * default deny refuses like any multicast nobody allowed.
   */
  const flowsOf = async (...args: string[]) =>
    (await denied(...args)).flows.filter((f) => f.proto === 'tcp' || f.proto === 'udp');
  const status = async () => JSON.parse((await http('/status')).body);
  const start = async () => {
    await stop(); // one left by a test that failed
    const d = new DaemonProc(n1, ['--config', L.configFile]);
    daemon = d;
    try {
      await until(async () => (await http('/readyz')).status === 200, 20_000);
      await until(async () => (await status()).denied.reader.state === 'reading', 10_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}; log: ${JSON.stringify(d.logs.slice(-5))} stderr: ${d.stderr.join(' | ')}`);
    }
  };
  const stop = async () => {
    await daemon?.kill('SIGTERM');
    daemon = null;
  };
  const config = (text: string) => writeFileSync(L.configFile, text);
  const probeAll = () =>
    Promise.all(PAIRS.map((p) => peer[p.from]!.probe('10.100.0.1', p.port, { proto: p.proto, timeoutMs: 400 })));

  beforeAll(async () => {
    L = await buildNodeLab();
    n1 = L.ns['node-1']!;
    peer = L.peers();
    await peer['node-1']!.listen('tcp', 22, 2379, 6443, 9999);
    await peer['node-1']!.listen('udp', 68, 9999);
  });
  afterAll(async () => {
    await stop();
    await L?.cleanup();
  });

  it('audit, then enforce: exactly the refused TCP and UDP flows, with packets and the deciding rule; allowed ones never; kept across a restart', async () => {
    config(WITH_DENY.replace('mode: enforce', 'mode: audit'));
    await start();
    const probes = await probeAll();
    // Audit lets everything through.
    for (const [i, p] of PAIRS.entries()) if (p.proto === 'tcp') expect(probes[i]!.state, `${p.from} ${p.port}`).toBe('open');
    // Egress: node-1 to the outsider's tcp/2525, refused by the policy no-smtp-out.
    await peer.outsider!.listen('tcp', 2525);
    expect((await peer['node-1']!.probe('10.100.0.50', 2525, { timeoutMs: 300 })).state).toBe('open');
    const egressKey = keyOf('10.100.0.50', 'tcp', 2525);

    await until(async () => (await flowsOf()).length >= REFUSED.length + 1, 5000);
    const audit = await denied();
    expect(audit.mode).toBe('audit');
    expect((await flowsOf()).map((f) => keyOf(f.peer, f.proto, f.port)).sort()).toEqual([...REFUSED, egressKey].sort());
    for (const f of await flowsOf()) {
      expect(f.packets).toBeGreaterThanOrEqual(1);
      expect(f.plane).toBe('controlPlane');
      expect(Date.parse(f.lastSeen)).toBeGreaterThanOrEqual(Date.parse(f.firstSeen));
      const egress = f.port === 2525;
      expect(f.direction).toBe(egress ? 'egress' : 'ingress');
      expect(f.rule).toBe(egress ? 'no-smtp-out: deny egress tcp 2525 to any' : 'default deny: controlPlane ingress');
    }
    expect(audit.cleanSince).toBeNull(); // refused within the last minute

    // /status counts and /metrics by plane and direction.
    const s = await status();
    expect(s.denied).toMatchObject({ flows: audit.flows.length, overflow: 0, cleanSince: null, wouldOnly: true });
    const metrics = (await http('/metrics')).body;
    const ingress = /artesca_fw_denied_flows\{plane="controlPlane",direction="ingress"\} (\d+)/.exec(metrics)?.[1];
    expect(Number(ingress)).toBeGreaterThanOrEqual(REFUSED.length);
    expect(metrics).toContain('artesca_fw_denied_flows{plane="controlPlane",direction="egress"} 1');
    expect(metrics).toContain('artesca_fw_denied_reader_up 1');
    // The table: busiest first, the columns an operator reads.
    const table = await cli('denied', '--top', '3');
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/would be refused \(audit mode: let through\)/);
    expect(table.stdout).toMatch(/PACKETS\s+DIRECTION\s+PLANE\s+PEER\s+PROTO\s+PORT\s+LAST SEEN\s+RULE/);
    expect(table.stdout).toMatch(/\.\.\. \d+ more \(--top \d+ shows them all\)/);

    // Restart: the record is read back from the state dir.
    await stop();
    expect(existsSync(path.join(L.stateDir, 'denied-flows.json'))).toBe(true);
    await start();
    const after = await denied();
    expect(after.flows.map((f) => [keyOf(f.peer, f.proto, f.port), f.packets]).sort()).toEqual(
      audit.flows.map((f) => [keyOf(f.peer, f.proto, f.port), f.packets]).sort(),
    );
    expect(after.since).toBe(audit.since);

    // Enforce (a config edit the daemon follows): the refused pairs are dropped, counted on the same keys.
    const before = new Map(after.flows.map((f) => [keyOf(f.peer, f.proto, f.port), f.packets]));
    config(WITH_DENY);
    await until(async () => (await status()).mode === 'enforce', 10_000);
    const enforced = await probeAll();
    for (const [i, p] of PAIRS.entries()) {
      if (p.proto === 'tcp') expect(enforced[i]!.state, `${p.from} ${p.port}`).toBe(p.refused ? 'timeout' : 'open');
    }
    await until(async () => {
      const v = await flowsOf();
      return REFUSED.every((k) => (v.find((f) => keyOf(f.peer, f.proto, f.port) === k)?.packets ?? 0) > before.get(k)!);
    }, 5000);
    expect((await denied()).mode).toBe('enforce');
    expect((await flowsOf()).map((f) => keyOf(f.peer, f.proto, f.port)).sort()).toEqual([...REFUSED, egressKey].sort());
    // --since: only what was seen since the enforced probes (the egress flow was not tried again).
    const egressSeen = Date.parse((await flowsOf()).find((f) => f.port === 2525)!.lastSeen);
    const lately = await flowsOf('--since', new Date(egressSeen + 1).toISOString());
    expect(lately.map((f) => keyOf(f.peer, f.proto, f.port)).sort()).toEqual(REFUSED);
    await stop();
  });

  it('10,000 distinct refused keys against maxFlows 1000: 1,000 kept, the rest in overflow; --reset empties it', async () => {
    config(`${BASE_CONFIG}\ndenied:\n  maxFlows: 1000\n  packetsPerSecond: 10000\n`);
    await start();
    const reset = await cli('denied', '--reset');
    expect(reset.code, reset.stderr).toBe(0);
    expect((await denied()).flows).toEqual([]);
    // One UDP datagram to each of 10,000 ports nobody allows, paced under the NFLOG rate.
    const send = await L.lab.exec(L.ns.outsider!, 'python3', [
      '-c',
      [
        'import socket, time',
        's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
        'for i, p in enumerate(range(20000, 30000)):',
        "    s.sendto(b'x', ('10.100.0.1', p))",
        '    if i % 100 == 99: time.sleep(0.02)',
      ].join('\n'),
    ]);
    expect(send.code, send.stderr).toBe(0);
    await until(async () => {
      const d = (await status()).denied;
      return d.flows + d.overflow >= 10_000;
    }, 15_000);
    const d = (await status()).denied;
    expect([d.flows, d.overflow, d.maxFlows]).toEqual([1000, 9000, 1000]);
    expect((await denied()).flows).toHaveLength(1000);
    expect((await http('/metrics')).body).toContain('artesca_fw_denied_overflow_flows 9000');

    expect((await cli('denied', '--reset')).code).toBe(0);
    const empty = await denied();
    expect([empty.flows.length, empty.overflow]).toEqual([0, 0]);
    expect(Date.parse(empty.since)).toBeGreaterThan(Date.parse(d.since));
    await stop();
    // The reset is what was saved.
    const saved = JSON.parse(readFileSync(path.join(L.stateDir, 'denied-flows.json'), 'utf8'));
    expect([saved.record.flows.length, saved.record.overflow]).toEqual([0, 0]);
  });

  it('a damaged record file is refused with the file named, set aside, and the agent still enforces', async () => {
    config(BASE_CONFIG);
    await start();
    await peer.outsider!.probe('10.100.0.1', 9999, { timeoutMs: 300 });
    await until(async () => (await denied()).flows.length > 0, 5000);
    await stop();
    const file = path.join(L.stateDir, 'denied-flows.json');
    const text = readFileSync(file, 'utf8');
    writeFileSync(
      file,
      text.replace(/"packets":(\d+)/, (_m, n) => `"packets":${Number(n) + 1000}`),
    );

    await start();
    const s = await status();
    expect(s.denied.loadError).toContain(file);
    expect(s.denied.loadError).toMatch(/does not match the content/);
    expect(daemon!.logs.some((l) => l.event === 'denied' && String(l.msg).includes(file))).toBe(true);
    expect(existsSync(`${file}.damaged`)).toBe(true);
    // Killed (a crash), the agent takes its reader with it: nothing is left holding the NFLOG group.
    const readers = async () => (await L.lab.exec(n1, 'ps', ['-C', 'tcpdump', '-o', 'pid='])).stdout.trim();
    const tcpdumpInNs = async () => {
      const pids = new Set((await L.lab.exec(n1, 'ip', ['netns', 'pids', n1])).stdout.split('\n').filter(Boolean));
      return (await readers()).split(/\s+/).filter((p) => pids.has(p));
    };
    expect(await tcpdumpInNs()).toHaveLength(1);
    await daemon!.kill('SIGKILL');
    daemon = null;
    await until(async () => (await tcpdumpInNs()).length === 0, 2000);
    await start();
    expect(s.ruleset.source).toBe('config');
    expect((await peer.outsider!.probe('10.100.0.1', 9999, { timeoutMs: 300 })).state).toBe('timeout');
    expect((await peer['node-2']!.probe('10.100.0.1', 6443, { timeoutMs: 300 })).state).toBe('open');
    // A new record started, and records again.
    await until(async () => (await denied()).flows.some((f) => f.port === 9999), 5000);
    await stop();
  });
});
