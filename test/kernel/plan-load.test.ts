// The kernel accepts what `plan` prints: sets loaded with `ipset restore`,
// rules checked with `iptables-restore --test`, for both backends and families,
// for every shape of config the golden files cover.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, requireKernelTests } from '../../scripts/lab/netns.js';
import { planText } from '../../src/compile/plan-text.js';
import { compileTexts, exampleConfigFor, iface } from '../helpers/compile.js';

// Fails at once, naming what is missing, when not root or a tool is not installed.
requireKernelTests();

const CONFIG = readFileSync(new URL('../../config/config.yaml', import.meta.url), 'utf8');
const INVENTORY = readFileSync(new URL('../../config/inventory.yaml', import.meta.url), 'utf8');
const DUAL_INV = INVENTORY.replace(/workloadPlaneIP: 10\.200\.0\.(\d)/g, 'workloadPlaneIP: [10.200.0.$1, "fd00:200::$1"]');
const dual = (cfg: string) => cfg.replace('cidr: 10.200.0.0/24', 'cidr: [10.200.0.0/24, "fd00:200::/64"]');

const shapes: [string, string, string, ReturnType<typeof iface>[]][] = [
  ['node-1', CONFIG, INVENTORY, [iface('eth0', '10.100.0.1'), iface('eth1', '10.200.0.1')]],
  [
    'node-2',
    exampleConfigFor(CONFIG, 'node-2', ['master', 'etcd', 'infra']),
    INVENTORY,
    [iface('eth0', '10.100.0.2'), iface('eth1', '10.200.0.2')],
  ],
  ['node-3 shared interface', exampleConfigFor(CONFIG, 'node-3', []), INVENTORY, [iface('bond0', '10.100.0.3', '10.200.0.3')]],
  [
    'dual-stack reject',
    `${dual(CONFIG)}denyAction: reject\n`,
    DUAL_INV,
    [iface('eth0', '10.100.0.1'), iface('eth1', '10.200.0.1', 'fd00:200::1')],
  ],
  [
    'audit, icmp all, user policies',
    `${CONFIG}mode: audit\nicmp: all\nfailsafe: { inbound: ["tcp:10.0.0.0/8:22", "udp:68"], outbound: ["tcp:fd00::/8:2222"] }\npolicies:\n  - { name: extra, order: 1, appliesTo: { plane: workloadPlane }, ingress: [{ action: log, protocol: tcp, ports: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, "20-30"] }, { action: deny, protocol: udp, from: { cidrs: [192.168.0.0/16, "fd00::/8"] } }] }\n`,
    INVENTORY,
    [iface('eth0', '10.100.0.1'), iface('eth1', '10.200.0.1')],
  ],
];

describe('plan output loads into the kernel', () => {
  const lab = new Lab('p');
  let ns: string;
  beforeAll(async () => {
    ns = await lab.ns('plan');
  });
  afterAll(() => lab.cleanup());

  for (const [name, config, inventory, ifs] of shapes) {
    it(name, async () => {
      const plan = planText(compileTexts(config, inventory, ifs));
      await lab.must(ns, 'ipset', ['-exist', 'restore'], { input: plan.ipset });
      // Loading the set batch twice works too: it is written to be re-run.
      await lab.must(ns, 'ipset', ['-exist', 'restore'], { input: plan.ipset });
      for (const backend of ['nft', 'legacy']) {
        for (const [tool, text] of [
          [`iptables-${backend}-restore`, plan.ipv4],
          [`ip6tables-${backend}-restore`, plan.ipv6],
        ] as const) {
          const r = await lab.exec(ns, tool, ['--test', '--noflush'], { input: text });
          expect(r.code, `${tool}: ${r.stderr}`).toBe(0);
          expect(r.stderr).toBe('');
        }
      }
      // And for real, in nft: the kernel takes it.
      const r4 = await lab.exec(ns, 'iptables-nft-restore', ['--noflush'], { input: plan.ipv4 });
      expect(r4.code, r4.stderr).toBe(0);
      const r6 = await lab.exec(ns, 'ip6tables-nft-restore', ['--noflush'], { input: plan.ipv6 });
      expect(r6.code, r6.stderr).toBe(0);
      const saved = await lab.must(ns, 'iptables-nft-save', []);
      expect(saved).toContain(':AFW-PREROUTING');
      await lab.cli(ns, ['flush', '--config', '/nonexistent.yaml']);
    });
  }
});
