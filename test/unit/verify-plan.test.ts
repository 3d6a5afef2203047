// verify's pure half: what each probe should answer, VIPs judged once their
// holder is known, and the holder found from the neighbour table
// (test/kernel/verify.test.ts probes the same on real namespaces).
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/validate-config.js';
import { checkCluster, parseInventory } from '../../src/config/validate-inventory.js';
import { judgeVip, planChecks } from '../../src/verify/plan.js';
import { holderOf, parseNeighbours } from '../../src/verify/vip-holder.js';
import { exampleConfigFor } from '../helpers/compile.js';
import { BASE_CONFIG, BASE_INVENTORY } from '../helpers/fixtures.js';

const cfg = parseConfig(exampleConfigFor(BASE_CONFIG, 'node-3', []), '/etc/artesca-fw/config.yaml', { hostname: 'h' });
const inv = parseInventory(BASE_INVENTORY, '/etc/artesca-fw/inventory.yaml');
checkCluster(cfg, inv);
const config = cfg.config;
const inventory = inv.inventory;
const node3 = inventory.nodes.find((n) => n.name === 'node-3')!;
const fromNode3 = { kind: 'member' as const, name: 'node-3', addresses: node3.addresses };

describe('verify plan: VIPs', () => {
  const { checks, vipChecks } = planChecks(config, inventory, fromNode3);

  it('probes each VIP on its plane, with what each other member would answer if it held it', () => {
    expect([...new Set(vipChecks.map((v) => `${v.address} ${v.plane}`))]).toEqual([
      '10.100.0.100 controlPlane',
      '10.200.0.100 workloadPlane',
    ]);
    for (const v of vipChecks) expect(v.candidates.map((c) => c.node)).toEqual(['node-1', 'node-2']);
    // The VIP is probed on the same ports as a plane address of its plane.
    const cpPorts = [...new Set(checks.filter((c) => c.plane === 'controlPlane').map((c) => `${c.proto}/${c.port}`))];
    expect(vipChecks.filter((v) => v.plane === 'controlPlane').map((v) => `${v.proto}/${v.port}`)).toEqual(cpPorts);
    expect(checks.some((c) => c.address.endsWith('.100'))).toBe(false);
  });

  it('judges a VIP probe by the policy of the member holding it', () => {
    // 8080 (registry) is open to the control plane on node-1 (registry) and not on node-2.
    const registry = vipChecks.find((v) => v.address === '10.100.0.100' && v.port === 8080)!;
    expect(judgeVip(registry, 'node-1')).toMatchObject({
      node: 'node-1',
      vip: true,
      expected: 'reached',
      rule: expect.stringMatching(/^node-1 ingress: control-plane-registry: /),
    });
    expect(judgeVip(registry, 'node-2')).toMatchObject({ node: 'node-2', expected: 'filtered' });
    // Holder unknown and the members disagree: it cannot be judged.
    expect(judgeVip(registry, undefined)).toBeUndefined();
    // Holder unknown and every member agrees (the unlisted port): judged all the same.
    const unlisted = vipChecks.find((v) => v.address === '10.100.0.100' && v.unlisted)!;
    expect(judgeVip(unlisted, undefined)).toMatchObject({
      node: '(holder unknown)',
      expected: 'filtered',
      rule: expect.stringMatching(/^any holder: node-1 ingress: default deny: controlPlane ingress$/),
    });
  });

  it('this node egress decides first: a VIP probe it may not send is expected filtered whoever holds it', () => {
    const c = parseConfig(
      exampleConfigFor(BASE_CONFIG, 'node-3', []).replace(
        'policies: []',
        'policies:\n  - name: no-registry-out\n    order: 0\n    appliesTo: { plane: controlPlane }\n    egress:\n      - action: deny\n        protocol: tcp\n        ports: [8080]',
      ),
      '/etc/artesca-fw/config.yaml',
      { hostname: 'h' },
    ).config;
    const v = planChecks(c, inventory, fromNode3).vipChecks.find((x) => x.address === '10.100.0.100' && x.port === 8080)!;
    expect(judgeVip(v, 'node-1')).toMatchObject({ expected: 'filtered', rule: expect.stringMatching(/^node-3 egress: /) });
  });

  it('a VIP on this machine is not probed', () => {
    const { vipChecks: v } = planChecks(config, inventory, fromNode3, new Set(['10.100.0.100']));
    expect([...new Set(v.map((x) => x.address))]).toEqual(['10.200.0.100']);
  });
});

describe('verify: where a VIP lives', () => {
  const table = parseNeighbours(
    JSON.stringify([
      { dst: '10.100.0.1', dev: 'cp0', lladdr: '02:00:00:00:00:01', state: ['REACHABLE'] },
      { dst: '10.100.0.2', dev: 'cp0', lladdr: '02:00:00:00:00:02', state: ['STALE'] },
      { dst: '10.100.0.100', dev: 'cp0', lladdr: '02:00:00:00:00:01', state: ['DELAY'] },
      { dst: '10.200.0.100', dev: 'wp0', state: ['FAILED'] },
      { dst: '10.200.0.1', dev: 'wp0', lladdr: '02:00:00:00:00:0A', state: ['REACHABLE'] },
      { dst: '10.200.0.2', dev: 'wp0', lladdr: '02:00:00:00:00:0a', state: ['REACHABLE'] },
    ]),
  );

  it('the member whose plane address answers from the same link-layer address', () => {
    expect(holderOf('10.100.0.100', 'controlPlane', inventory, 'node-3', table)).toMatchObject({ node: 'node-1' });
  });

  it('none when nothing answered, or when one link-layer address answers for several members (a router)', () => {
    expect(table.has('10.200.0.100')).toBe(false); // FAILED: no link-layer address
    expect(holderOf('10.200.0.100', 'workloadPlane', inventory, 'node-3', table)).toEqual({
      how: 'no neighbour entry: nothing answered for it on this link',
    });
    const routed = new Map([...table, ['10.200.0.100', '02:00:00:00:00:0a']]);
    expect(holderOf('10.200.0.100', 'workloadPlane', inventory, 'node-3', routed)).toEqual({
      how: expect.stringMatching(/answers for 2 members/),
    });
  });
});
