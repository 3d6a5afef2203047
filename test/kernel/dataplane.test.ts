// apply / flush against the real kernel, inside namespaces this test makes:
// real iptables-restore and ipset, real TCP and UDP connections.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Peer, requireKernelTests } from '../../scripts/lab/netns.js';
import { BASE_CONFIG, BASE_INVENTORY, edit } from '../helpers/fixtures.js';
import { buildNodeLab, foreignState, type NodeLab, ourRules } from '../helpers/node-lab.js';

// Fails at once, naming what is missing, when not root or a tool is not installed.
requireKernelTests();

describe('dataplane in network namespaces', () => {
  let L: NodeLab;
  let n1: string;
  let peer: Record<string, Peer>;
  let foreignBefore: string;

  const apply = async (...extra: string[]) => {
    const r = await L.lab.cli(n1, ['apply', '--config', L.configFile, '--json', ...extra]);
    return { ...r, json: r.stdout.trim() ? JSON.parse(r.stdout) : undefined };
  };
  const probe = (from: string, host: string, port: number, proto: 'tcp' | 'udp' = 'tcp') =>
    peer[from]!.probe(host, port, { proto }).then((p) => p.state);

  beforeAll(async () => {
    L = await buildNodeLab();
    n1 = L.ns['node-1']!;
    peer = {};
    for (const name of ['node-1', 'node-2', 'node-3', 'outsider', 'pod']) peer[name] = L.lab.peer(L.ns[name]!);
    // node-1 listens on everything the tests probe; the pod behind DNAT on 8443.
    await peer['node-1']!.listen('tcp', 22, 2379, 6443, 8443, 9999, 10250, 4505);
    await peer['node-1']!.listen('udp', 123, 5353);
    await peer.pod!.listen('tcp', 8443);
    await peer['node-2']!.listen('tcp', 2380, 7777);
    await peer.outsider!.listen('tcp', 7777);
    foreignBefore = await foreignState(L.lab, n1);
  });
  afterAll(async () => {
    await L?.cleanup();
  });

  it('before any rule, everything is open (the probes work)', async () => {
    expect(await probe('outsider', '10.100.0.1', 9999)).toBe('open');
    expect(await probe('node-3', '10.200.0.1', 9999)).toBe('open');
  });

  it('applies, and leaves every other rule and set byte-for-byte as it was', async () => {
    const r = await apply();
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ ok: true, changed: true, backend: 'nft' });
    expect(await foreignState(L.lab, n1)).toBe(foreignBefore);
    expect(existsSync(path.join(L.stateDir, 'last-good.json'))).toBe(true);
  });

  it('allows listed peers and ports, refuses the rest (TCP)', async () => {
    expect(await probe('node-2', '10.100.0.1', 6443)).toBe('open'); // kube-apiserver from controlPlane (all)
    expect(await probe('node-2', '10.100.0.1', 2379)).toBe('open'); // etcd client from an etcd node
    expect(await probe('node-3', '10.100.0.1', 2379)).toBe('timeout'); // node-3 is not etcd
    expect(await probe('node-3', '10.100.0.1', 6443)).toBe('open');
    expect(await probe('outsider', '10.100.0.1', 6443)).toBe('timeout'); // not in the inventory
    expect(await probe('outsider', '10.100.0.1', 8443)).toBe('open'); // control-plane ingress from any
    expect(await probe('node-2', '10.100.0.1', 9999)).toBe('timeout'); // unlisted port
    expect(await probe('node-2', '10.100.0.1', 22)).toBe('timeout'); // SSH only from bootstrap
    expect(await probe('node-2', '10.100.0.100', 6443)).toBe('open'); // the management VIP is a host address
    expect(await probe('outsider', '10.100.0.100', 6443)).toBe('timeout');
  });

  it('UDP: NTP open to any on the bootstrap node, other ports closed', async () => {
    expect(await probe('outsider', '10.100.0.1', 123, 'udp')).toBe('open');
    expect(await probe('node-2', '10.100.0.1', 5353, 'udp')).toBe('timeout');
  });

  it('egress: TCP out is open, to peers and beyond the inventory', async () => {
    expect(await probe('node-1', '10.100.0.2', 2380)).toBe('open');
    expect(await probe('node-1', '10.200.0.50', 7777)).toBe('open');
  });

  it('hostPort DNAT: 443 allowed, an unlisted port blocked, although neither passes INPUT', async () => {
    expect(await probe('node-2', '10.200.0.1', 443)).toBe('open');
    expect(await probe('outsider', '10.200.0.1', 443)).toBe('open');
    expect(await probe('node-2', '10.200.0.1', 9999)).toBe('timeout');
  });

  it('IPv6 is no back door: a v6 address the config does not know is default-deny', async () => {
    await L.lab.addr(n1, 'cp0', 'fd00:100::1/64');
    await L.lab.addr(L.ns['node-2']!, 'cp0', 'fd00:100::2/64');
    expect(await probe('node-2', 'fd00:100::1', 6443)).toBe('timeout');
    expect(await probe('node-1', 'fd00:100::2', 7777)).toBe('timeout'); // nothing allowed out either
  });

  it('re-applying the same ruleset writes nothing and counters keep counting', async () => {
    const counter = async () => {
      const out = await L.lab.must(n1, 'iptables-nft-save', ['-c', '-t', 'mangle']);
      const line = out.split('\n').find((l) => l.includes('kube-apiserver'));
      return Number(/^\[(\d+):/.exec(line ?? '')?.[1] ?? -1);
    };
    expect(await probe('node-2', '10.100.0.1', 6443)).toBe('open');
    const before = await counter();
    expect(before).toBeGreaterThan(0);
    const rulesBefore = await ourRules(L.lab, n1);
    for (let i = 0; i < 3; i++) {
      const r = await apply();
      expect(r.code, r.stderr).toBe(0);
      expect(r.json).toMatchObject({ changed: false, chainsRewritten: [], setsUpdated: [] });
    }
    expect(await counter()).toBe(before);
    expect(await ourRules(L.lab, n1)).toBe(rulesBefore);
  });

  it('the jump rules exist exactly once, first in their chain, even after another tool inserted before them', async () => {
    const lateTool = ['-m', 'comment', '--comment', 'late tool', '-j', 'RETURN'];
    await L.lab.must(n1, 'iptables-nft', ['-t', 'mangle', '-I', 'PREROUTING', '1', ...lateTool]);
    const r = await apply();
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ changed: true, jumpsInserted: 1, jumpsDeleted: 1 });
    const mangle = await L.lab.must(n1, 'iptables-nft-save', ['-t', 'mangle']);
    const pre = mangle.split('\n').filter((l) => l.startsWith('-A PREROUTING '));
    expect(pre[0]).toContain('-j AFW-PREROUTING');
    expect(pre.filter((l) => l.includes('AFW-PREROUTING'))).toHaveLength(1);
    expect(pre.some((l) => l.includes('late tool'))).toBe(true);
    const filter = await L.lab.must(n1, 'iptables-nft-save', ['-t', 'filter']);
    expect(filter.split('\n').filter((l) => l.startsWith('-A OUTPUT') && l.includes('AFW-OUTPUT'))).toHaveLength(1);
    await L.lab.must(n1, 'iptables-nft', ['-t', 'mangle', '-D', 'PREROUTING', ...lateTool]);
    foreignBefore = await foreignState(L.lab, n1);
  });

  it('an established connection survives a reload; a removed peer loses access, its open connections too', async () => {
    const held = await peer['node-2']!.probe('10.100.0.1', 6443, { keep: true });
    expect(held.state).toBe('open');
    const toAny = await peer['node-2']!.probe('10.100.0.1', 8443, { keep: true }); // control-plane ingress: from any
    expect(toAny.state).toBe('open');
    // A reload that changes rules and sets but keeps node-2: its connection carries on.
    L.writeInventory(
      `${BASE_INVENTORY}  - name: node-4\n    roles: [etcd]\n    controlPlaneIP: 10.100.0.4\n    workloadPlaneIP: 10.200.0.4\n`,
    );
    const grow = await apply();
    expect(grow.code, grow.stderr).toBe(0);
    expect(grow.json).toMatchObject({ changed: true, connectionsCut: 0 });
    expect((await peer['node-2']!.use(held.conn!)).state).toBe('echoed');
    // node-2 leaves the inventory: new connections from it are refused...
    L.writeInventory(
      edit(BASE_INVENTORY, [
        [
          '  - name: node-2\n    roles: [master, etcd, infra]\n    controlPlaneIP: 10.100.0.2\n    workloadPlaneIP: 10.200.0.2\n',
          '',
        ],
      ]),
    );
    const r = await apply();
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ changed: true, chainsRewritten: [] }); // only set members changed
    expect(r.json.setsUpdated).toContain('afw4-cp-all');
    expect(r.json.connectionsCut).toBeGreaterThanOrEqual(1);
    expect(await probe('node-2', '10.100.0.1', 6443)).toBe('timeout');
    // ...and the connection it had is cut: its conntrack entry is gone, its next packet is judged anew.
    expect((await peer['node-2']!.use(held.conn!)).state).not.toBe('echoed');
    // A connection to a port that is open to any survives the same removal.
    expect((await peer['node-2']!.use(toAny.conn!)).state).toBe('echoed');
    expect(await foreignState(L.lab, n1)).toBe(foreignBefore);
    L.writeInventory(BASE_INVENTORY);
    expect((await apply()).code).toBe(0);
    expect(await probe('node-2', '10.100.0.1', 6443)).toBe('open');
  });

  describe('a failed apply leaves the previous ruleset in force', () => {
    const fakeDir = () => path.join(L.dir, 'fakebin');
    // The change touches both sets (node-3 becomes etcd) and chains (a new policy
    // opens 7000), so a failure has to roll back set swaps and rules alike.
    const changedInventory = () =>
      edit(BASE_INVENTORY, [
        [
          '  - name: node-3\n    roles: []\n    controlPlaneIP: 10.100.0.3',
          '  - name: node-3\n    roles: [etcd]\n    controlPlaneIP: 10.100.0.3',
        ],
      ]);
    const changedConfig = () =>
      writeFileSync(
        L.configFile,
        edit(BASE_CONFIG, [
          [
            'policies: []',
            'policies:\n  - { name: extra, order: 300, appliesTo: { plane: controlPlane }, ingress: [{ action: allow, protocol: tcp, ports: [7000] }] }',
          ],
        ]),
      );

    async function expectPreviousStillLive(rulesBefore: string) {
      expect(await ourRules(L.lab, n1)).toBe(rulesBefore);
      expect(await probe('node-2', '10.100.0.1', 2379)).toBe('open');
      expect(await probe('node-3', '10.100.0.1', 2379)).toBe('timeout'); // the change (node-3 becomes etcd) did not land
      expect(await probe('node-2', '10.100.0.1', 9999)).toBe('timeout');
      expect(await probe('node-2', '10.100.0.1', 7000)).toBe('timeout');
      expect(await foreignState(L.lab, n1)).toBe(foreignBefore);
    }

    /**
     * Puts `script` first on PATH as iptables-nft-restore, makes the change and
     * applies it: the apply must fail (exit 1) and leave the previous ruleset live.
     */
    async function failingApply(script: string): Promise<string> {
      mkdirSync(fakeDir(), { recursive: true });
      const fake = path.join(fakeDir(), 'iptables-nft-restore');
      writeFileSync(fake, script);
      chmodSync(fake, 0o755);
      writeFileSync(path.join(fakeDir(), 'package.json'), '{"type":"commonjs"}');
      const rulesBefore = await ourRules(L.lab, n1);
      L.writeInventory(changedInventory());
      changedConfig();
      const r = await L.lab.cli(n1, ['apply', '--config', L.configFile], { PATH: `${fakeDir()}:${process.env.PATH}` });
      expect(r.code).toBe(1);
      await expectPreviousStillLive(rulesBefore);
      return r.stderr;
    }

    /** A wrapper that runs the real iptables-nft-restore on the batch as `transform` changes it. */
    const wrapper = (transform: string) => `#!/usr/bin/env node
const { spawnSync } = require('node:child_process');
const input = require('node:fs').readFileSync(0, 'utf8');
const batch = ${transform};
const r = spawnSync('/usr/sbin/iptables-nft-restore', process.argv.slice(2), { input: batch, stdio: ['pipe', 'inherit', 'inherit'] });
process.exit(r.status ?? 1);
`;

    it('when iptables-restore itself fails (a failing binary first on PATH)', async () => {
      const stderr = await failingApply(
        '#!/bin/sh\ncat >/dev/null\necho "iptables-restore: line 2 failed: simulated failure" >&2\nexit 1\n',
      );
      expect(stderr).toContain('simulated failure');
      expect(stderr).toMatch(/iptables-nft-restore/);
    });

    it('when the kernel refuses a rule (real iptables-restore, batch with a rule it rejects)', async () => {
      // The real batch with an invalid rule slipped in.
      const stderr = await failingApply(
        wrapper(`input.replace(/\\nCOMMIT\\n/, '\\n-A AFW-PREROUTING -m nosuchmatch --nosuch 1 -j RETURN\\nCOMMIT\\n')`),
      );
      expect(stderr).toMatch(/nosuchmatch|Couldn't load match/i);
    });

    it('when the tool reports success but the kernel holds something else (found by the read-back)', async () => {
      // The real batch minus one rule (the new 7000 allow), and exit 0, as a tool with
      // "errors that exit 0" would: only reading back what is live can notice.
      const stderr = await failingApply(wrapper(`input.split('\\n').filter((l) => !/--dport 7000 /.test(l)).join('\\n')`));
      expect(stderr).toContain('AFW_VERIFY_FAILED');
      expect(stderr).toMatch(/read back differ/);
    });

    it('then, with the real tools, the same change applies', async () => {
      const r = await apply();
      expect(r.code, r.stderr).toBe(0);
      expect(await probe('node-3', '10.100.0.1', 2379)).toBe('open');
      expect(await probe('node-2', '10.100.0.1', 7000)).toBe('refused'); // allowed now; nothing listens
      L.writeInventory(BASE_INVENTORY);
      writeFileSync(L.configFile, BASE_CONFIG);
      expect((await apply()).code).toBe(0);
    });
  });

  it('flush removes exactly what artesca-fw owns, in both families, and nothing else', async () => {
    const r = await L.lab.cli(n1, ['flush', '--config', L.configFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(await ourRules(L.lab, n1)).toBe('');
    expect(await foreignState(L.lab, n1)).toBe(foreignBefore);
    expect(await probe('outsider', '10.100.0.1', 9999)).toBe('open');
  });

  it('apply --from-state restores the last-known-good ruleset without reading any config', async () => {
    const r = await L.lab.cli(n1, ['apply', '--from-state', L.stateDir, '--config', '/nonexistent/config.yaml']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/last-known-good ruleset/);
    expect(await probe('outsider', '10.100.0.1', 9999)).toBe('timeout');
    expect(await probe('node-2', '10.100.0.1', 6443)).toBe('open');
    expect(await foreignState(L.lab, n1)).toBe(foreignBefore);
  });

  it('a config that does not validate changes nothing live and exits 1 naming the field', async () => {
    const before = await ourRules(L.lab, n1);
    writeFileSync(path.join(L.dir, 'bad.yaml'), 'apiVersion: artesca-fw/v1\nnode:\n  roles: [master]\n  colour: blue\n');
    const r = await L.lab.cli(n1, ['apply', '--config', path.join(L.dir, 'bad.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.yaml:4:3: node\.colour: unknown field/);
    expect(await ourRules(L.lab, n1)).toBe(before);
  });
});
