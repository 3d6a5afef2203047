// Golden files of `plan` output for the example cluster: any change to what is
// loaded shows up as a diff of test/golden/*.plan that a reviewer reads; the
// files change only through `npm run golden:update`.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { planText } from '../../src/compile/plan-text.js';
import { compileTexts, exampleConfigFor, iface } from '../helpers/compile.js';
import { expectGolden } from '../helpers/golden.js';

const CONFIG = readFileSync(new URL('../../config/config.yaml', import.meta.url), 'utf8');
const INVENTORY = readFileSync(new URL('../../config/inventory.yaml', import.meta.url), 'utf8');

describe('plan output (golden)', () => {
  it('node-1: every role, VIPs on its interfaces', () => {
    const rs = compileTexts(CONFIG, INVENTORY, [
      iface('lo', '127.0.0.1', '::1'),
      iface('eth0', '10.100.0.1', '10.100.0.100', 'fe80::1'),
      iface('eth1', '10.200.0.1', '10.200.0.100'),
    ]);
    expectGolden('node-1.plan', planText(rs).text);
  });

  it('node-2: master, etcd, infra', () => {
    const rs = compileTexts(exampleConfigFor(CONFIG, 'node-2', ['master', 'etcd', 'infra']), INVENTORY, [
      iface('eth0', '10.100.0.2'),
      iface('eth1', '10.200.0.2'),
    ]);
    expectGolden('node-2.plan', planText(rs).text);
  });

  it('node-3: no role', () => {
    const rs = compileTexts(exampleConfigFor(CONFIG, 'node-3', []), INVENTORY, [
      iface('eth0', '10.100.0.3'),
      iface('eth1', '10.200.0.3'),
    ]);
    expectGolden('node-3.plan', planText(rs).text);
  });

  it('node-3 with both planes on one interface: one endpoint carrying both', () => {
    const rs = compileTexts(exampleConfigFor(CONFIG, 'node-3', []), INVENTORY, [iface('bond0', '10.100.0.3', '10.200.0.3')]);
    expect(rs.endpoints).toHaveLength(1);
    expect(rs.endpoints[0]).toMatchObject({ id: 'CPWP', interface: 'bond0', planes: ['controlPlane', 'workloadPlane'] });
    expectGolden('node-3-shared-interface.plan', planText(rs).text);
  });

  it('dual-stack node-2 with reject and audit-free defaults', () => {
    const config = exampleConfigFor(CONFIG, 'node-2', ['master', 'etcd', 'infra'])
      .replace('cidr: 10.200.0.0/24', 'cidr: [10.200.0.0/24, "fd00:200::/64"]')
      .concat('denyAction: reject\n');
    const inventory = INVENTORY.replace(/workloadPlaneIP: 10\.200\.0\.(\d)/g, 'workloadPlaneIP: [10.200.0.$1, "fd00:200::$1"]');
    const rs = compileTexts(config, inventory, [
      iface('eth0', '10.100.0.2'),
      iface('eth1', '10.200.0.2', 'fd00:200::2', 'fe80::2'),
    ]);
    expect(rs.endpoints.find((e) => e.id === 'WP')?.families).toEqual({ workloadPlane: [4, 6] });
    expectGolden('node-2-dual-stack-reject.plan', planText(rs).text);
  });
});
