// Established packets at the floor: the jumps into artesca-fw's chains match
// only packets that are not of an established or related connection, in both
// families and both backends. Shown with the kernel's own counters (an
// established stream does not enter our chains), new connections judged as
// before, INVALID packets still dropped, a revoked peer's connection still
// cut, and an older version's jump replaced by this one's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Peer } from '../../scripts/lab/netns.js';
import { requireKernelTests } from '../../scripts/lab/netns.js';
import { BASE_CONFIG, BASE_INVENTORY, edit } from '../helpers/fixtures.js';
import { buildNodeLab, type NodeLab } from '../helpers/node-lab.js';
import { rawReceiver } from '../helpers/raw-receiver.js';

requireKernelTests();

const NEW_ONLY = '-m conntrack ! --ctstate RELATED,ESTABLISHED';

describe.each(['nft', 'legacy'] as const)('established packets never enter our chains (iptables-%s)', (backend) => {
  let L: NodeLab;
  let n1: string;
  let peer: Record<string, Peer>;
  const save = (family: 4 | 6, table: string) =>
    L.lab.must(n1, `${family === 4 ? 'iptables' : 'ip6tables'}-${backend}-save`, ['-c', '-t', table]);
  /** Packets that went through the jump from a built-in chain into ours (its counter). */
  const entered = async (table: string, builtin: string, chain: string) => {
    const line = (await save(4, table)).split('\n').find((l) => l.includes(`-A ${builtin} `) && l.includes(`-j ${chain}`));
    expect(line, `${builtin} -> ${chain}`).toBeDefined();
    return Number(/^\[(\d+):/.exec(line!)?.[1]);
  };
  const apply = async () => {
    const r = await L.lab.cli(n1, ['apply', '--json', '--config', L.configFile]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  };

  beforeAll(async () => {
    L = await buildNodeLab({ config: `${BASE_CONFIG}backend: ${backend}\n`, foreign: false });
    n1 = L.ns['node-1']!;
    peer = L.peers();
    await peer['node-1']!.listen('tcp', 6443, 9999);
    await apply();
  }, 60_000);
  afterAll(async () => {
    await L?.cleanup();
  });

  it('every jump, in both families, matches only packets not established or related', async () => {
    for (const family of [4, 6] as const) {
      const jumps = [...(await save(family, 'mangle')).split('\n'), ...(await save(family, 'filter')).split('\n')].filter(
        (l) => /^\[\d+:\d+\] -A (PREROUTING|OUTPUT|INPUT|FORWARD) /.test(l) && / -j AFW-/.test(l),
      );
      expect(jumps.length, `IPv${family}`).toBeGreaterThanOrEqual(2);
      for (const j of jumps) expect(j, `IPv${family}`).toContain(NEW_ONLY);
    }
  });

  it('an established stream does not enter our chains; its first packet did; new connections are judged as before', async () => {
    const beforeIn = await entered('mangle', 'PREROUTING', 'AFW-PREROUTING');
    const beforeOut = await entered('filter', 'OUTPUT', 'AFW-OUTPUT');
    const held = await peer['node-2']!.probe('10.100.0.1', 6443, { keep: true });
    expect(held.state).toBe('open');
    const afterSyn = await entered('mangle', 'PREROUTING', 'AFW-PREROUTING');
    expect(afterSyn).toBeGreaterThan(beforeIn); // the SYN was judged
    for (let i = 0; i < 50; i++) expect((await peer['node-2']!.use(held.conn!)).state).toBe('echoed');
    // 50 round trips: a hundred or more packets each way, none of them in our chains.
    expect(await entered('mangle', 'PREROUTING', 'AFW-PREROUTING')).toBe(afterSyn);
    expect((await entered('filter', 'OUTPUT', 'AFW-OUTPUT')) - beforeOut).toBeLessThanOrEqual(2);
    // New connections: allowed and refused as the policies say.
    expect((await peer['node-3']!.probe('10.100.0.1', 6443, { timeoutMs: 400 })).state).toBe('open'); // kube-apiserver from the control plane
    expect((await peer['node-2']!.probe('10.100.0.1', 9999, { timeoutMs: 400 })).state).toBe('timeout'); // nobody's port
    expect((await peer.outsider!.probe('10.100.0.1', 6443, { timeoutMs: 400 })).state).toBe('timeout'); // not a member
  });

  it('an INVALID packet (SYN and FIN together) to an allowed port is still dropped; a plain SYN is delivered', async () => {
    // A raw TCP socket on node-1 sees what netfilter lets through to the host.
    const receiver = await rawReceiver(L.lab, n1, 'socket.IPPROTO_TCP', [
      'ihl = (data[0] & 15) * 4',
      'sport, dport = struct.unpack("!HH", data[ihl:ihl + 4])',
      'if sport in (40001, 40002): print(sport, data[ihl + 13], flush=True)',
    ]);
    // From node-2 (a member: 6443 is open to it): sport 40001 SYN|FIN (invalid), sport 40002 SYN.
    await L.lab.must(L.ns['node-2']!, 'python3', [
      '-c',
      [
        'import socket, struct',
        's = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)',
        'def csum(b):',
        '    if len(b) % 2: b += b"\\0"',
        '    t = sum(struct.unpack("!%dH" % (len(b) // 2), b)); t = (t >> 16) + (t & 0xffff); t += t >> 16',
        '    return ~t & 0xffff',
        'def pkt(sport, flags):',
        '    src, dst = socket.inet_aton("10.100.0.2"), socket.inet_aton("10.100.0.1")',
        '    tcp = struct.pack("!HHIIBBHHH", sport, 6443, 1000, 0, 5 << 4, flags, 64240, 0, 0)',
        '    tcp = tcp[:16] + struct.pack("!H", csum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)) + tcp[18:]',
        '    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, src, dst)',
        '    return ip + tcp',
        'for _ in range(3):',
        '    s.sendto(pkt(40001, 0x03), ("10.100.0.1", 0))',
        '    s.sendto(pkt(40002, 0x02), ("10.100.0.1", 0))',
      ].join('\n'),
    ]);
    const seen = await receiver.lines();
    expect(seen.some((l) => l.startsWith('40002 '))).toBe(true);
    expect(seen.filter((l) => l.startsWith('40001 '))).toEqual([]);
  });

  it("a revoked peer's established connection is still cut", async () => {
    const held = await peer['node-2']!.probe('10.100.0.1', 6443, { keep: true });
    expect((await peer['node-2']!.use(held.conn!)).state).toBe('echoed');
    L.writeInventory(
      edit(BASE_INVENTORY, [
        [
          '  - name: node-2\n    roles: [master, etcd, infra]\n    controlPlaneIP: 10.100.0.2\n    workloadPlaneIP: 10.200.0.2\n',
          '',
        ],
      ]),
    );
    expect((await apply()).connectionsCut).toBeGreaterThanOrEqual(1);
    expect((await peer['node-2']!.use(held.conn!)).state).not.toBe('echoed');
    L.writeInventory(BASE_INVENTORY);
    await apply();
  });

  it("an older version's jump (established packets included) is replaced by this version's, once", async () => {
    const old = [
      '-t',
      'mangle',
      '-I',
      'PREROUTING',
      '1',
      '-m',
      'comment',
      '--comment',
      'artesca-fw: ingress policy',
      '-j',
      'AFW-PREROUTING',
    ];
    const jumpsOf = async () => (await save(4, 'mangle')).split('\n').filter((l) => / -A PREROUTING .*-j AFW-PREROUTING/.test(l));
    // As an upgrade finds it: the old jump alone, where this version's was.
    const current = [
      '-m',
      'conntrack',
      '!',
      '--ctstate',
      'RELATED,ESTABLISHED',
      '-m',
      'set',
      '!',
      '--match-set',
      'afw4-watch',
      'src',
      '-m',
      'comment',
      '--comment',
      'artesca-fw: ingress policy, new packets',
      '-j',
      'AFW-PREROUTING',
    ];
    await L.lab.must(n1, `iptables-${backend}`, ['-t', 'mangle', '-D', 'PREROUTING', ...current]);
    await L.lab.must(n1, `iptables-${backend}`, old);
    expect(await jumpsOf()).toHaveLength(1);
    expect(await apply()).toMatchObject({ changed: true });
    const after = await jumpsOf();
    expect(after).toHaveLength(1);
    expect(after[0]).toContain(NEW_ONLY);
    expect(await apply()).toMatchObject({ changed: false });
  });
});
