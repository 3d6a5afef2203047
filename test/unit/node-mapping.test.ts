// Node objects -> inventory (pure): the MetalK8s defaults, the other mapping
// options, Nodes left out with their field, the guards, and the cache text.
import { describe, expect, it } from 'vitest';
import type { Config, InventoryNode } from '../../src/config/model.js';
import { parseConfig } from '../../src/config/validate-config.js';
import { checkCluster, parseInventory } from '../../src/config/validate-inventory.js';
import type { AfwError } from '../../src/errors.js';
import { inventoryText } from '../../src/membership/inventory-text.js';
import { membershipView, sameMembers, trimNode } from '../../src/membership/loaded-membership.js';
import { refuseMembership } from '../../src/membership/membership-guard.js';
import { membershipFromNodes } from '../../src/membership/node-mapping.js';
import type { NodeObject } from '../../src/membership/node-object.js';
import { makeNode, type NodeSpec } from '../helpers/fake-apiserver.js';
import { BASE_CONFIG, edit } from '../helpers/fixtures.js';

const K8S = `  kubernetes:
    kubeconfig: /etc/artesca-fw/kubeconfig
`;

function config(extra = '', base = BASE_CONFIG): Config {
  const text = edit(base, [['  file: inventory.yaml\n', `  file: inventory.yaml\n${K8S}${extra}`]]);
  return parseConfig(text, '/etc/artesca-fw/config.yaml', { hostname: 'node-1' }).config;
}

const node = (s: NodeSpec): NodeObject => makeNode(s, 1) as unknown as NodeObject;

describe('Node -> inventory entry', () => {
  it('MetalK8s defaults: roles from node-role labels, control plane from InternalIP, workload plane from the calico annotation', () => {
    const c = config();
    const m = membershipFromNodes(
      [
        node({ name: 'node-2', roles: ['etcd', 'master', 'node'], cp: '10.100.0.2', wp: '10.200.0.2' }),
        node({ name: 'node-1', roles: ['bootstrap', 'infra'], cp: '10.100.0.1', wp: '10.200.0.1' }),
      ],
      c.kubernetes!,
      c.networks,
    );
    expect(m.leftOut).toEqual([]);
    expect(m.nodes).toEqual([
      {
        name: 'node-1',
        roles: ['bootstrap', 'infra'],
        addresses: { controlPlane: ['10.100.0.1'], workloadPlane: ['10.200.0.1'] },
      },
      { name: 'node-2', roles: ['etcd', 'master'], addresses: { controlPlane: ['10.100.0.2'], workloadPlane: ['10.200.0.2'] } },
    ]);
  });

  it('a Node without the annotation, or with a plane IP outside the CIDR, is left out and named with its field', () => {
    const c = config();
    const m = membershipFromNodes(
      [
        node({ name: 'node-1', roles: [], cp: '10.100.0.1', wp: '10.200.0.1' }),
        node({ name: 'node-4', roles: [], cp: '10.100.0.4' }),
        node({ name: 'node-5', roles: [], cp: '192.168.1.5', wp: '10.200.0.5' }),
        node({
          name: 'node-6',
          roles: [],
          cp: '10.100.0.6',
          wp: '10.200.0.6',
          annotations: { 'projectcalico.org/IPv4Address': 'garbage' },
        }),
      ],
      c.kubernetes!,
      c.networks,
    );
    expect(m.nodes.map((n) => n.name)).toEqual(['node-1']);
    expect(m.leftOut).toEqual([
      { node: 'node-4', field: 'metadata.annotations[projectcalico.org/IPv4Address]', reason: 'workloadPlane IP: missing' },
      {
        node: 'node-5',
        field: 'status.addresses[type=InternalIP]',
        reason: 'controlPlane IP: 192.168.1.5 is outside the controlPlane CIDR 10.100.0.0/24',
      },
      {
        node: 'node-6',
        field: 'metadata.annotations[projectcalico.org/IPv4Address]',
        reason: 'workloadPlane IP: "garbage" is not an IP address',
      },
    ]);
  });

  it('a second Node claiming the same address is left out, the first keeps it', () => {
    const c = config();
    const m = membershipFromNodes(
      [
        node({ name: 'a', roles: [], cp: '10.100.0.1', wp: '10.200.0.1' }),
        node({ name: 'b', roles: [], cp: '10.100.0.1', wp: '10.200.0.2' }),
      ],
      c.kubernetes!,
      c.networks,
    );
    expect(m.nodes.map((n) => n.name)).toEqual(['a']);
    expect(m.leftOut[0]?.reason).toMatch(/10\.100\.0\.1 is already the address of Node "a"/);
  });

  it('cidr: fromPlane takes the first address of any type inside the plane CIDR; another prefix and annotation are followed', () => {
    const c = config(`    roleLabelPrefix: artesca.scality.com/role-
    controlPlaneIP: { cidr: fromPlane }
    workloadPlaneIP: { annotation: example.com/wp }
`);
    const n = node({
      name: 'node-1',
      roles: ['etcd'],
      cp: '192.168.7.1',
      labels: { 'artesca.scality.com/role-infra': 'true', 'artesca.scality.com/role-bogus': '' },
      annotations: { 'example.com/wp': '10.200.0.9' },
    });
    n.status!.addresses!.push({ type: 'ExternalIP', address: '10.100.0.77' });
    const m = membershipFromNodes([n], c.kubernetes!, c.networks);
    expect(m.leftOut).toEqual([]);
    expect(m.nodes[0]).toEqual({
      name: 'node-1',
      roles: ['infra'],
      addresses: { controlPlane: ['10.100.0.77'], workloadPlane: ['10.200.0.9'] },
    });
  });

  it('dual stack: an address of the other family is taken where the plane has a CIDR for it, ignored where not', () => {
    const base = edit(BASE_CONFIG, [['cidr: 10.200.0.0/24', 'cidr: [10.200.0.0/24, "fd00:200::/64"]']]);
    const c = config('', base);
    const n = node({
      name: 'node-1',
      roles: [],
      cp: '10.100.0.1',
      annotations: { 'projectcalico.org/IPv4Address': '10.200.0.1/24, fd00:200::1/64' },
    });
    n.status!.addresses!.push({ type: 'InternalIP', address: 'fd00:100::1' });
    const m = membershipFromNodes([n], c.kubernetes!, c.networks);
    expect(m.nodes[0]?.addresses).toEqual({ controlPlane: ['10.100.0.1'], workloadPlane: ['10.200.0.1', 'fd00:200::1'] });
  });

  it('trimNode keeps what the mapping reads and nothing else; the mapping of a trimmed Node is the same', () => {
    const c = config();
    const full = node({ name: 'node-1', roles: ['etcd'], cp: '10.100.0.1', wp: '10.200.0.1' });
    const t = trimNode(full, c);
    expect(JSON.stringify(t).length).toBeLessThan(JSON.stringify(full).length / 5);
    expect(membershipFromNodes([t], c.kubernetes!, c.networks)).toEqual(membershipFromNodes([full], c.kubernetes!, c.networks));
  });
});

describe('the mapping memo', () => {
  it('gives what a fresh mapping gives after Nodes are replaced, added and removed', () => {
    const c = config();
    const memo = new WeakMap();
    let nodes = [1, 2, 3, 4].map((i) => node({ name: `node-${i}`, roles: [], cp: `10.100.0.${i}`, wp: `10.200.0.${i}` }));
    expect(membershipFromNodes(nodes, c.kubernetes!, c.networks, memo)).toEqual(
      membershipFromNodes(nodes, c.kubernetes!, c.networks),
    );
    // node-2 takes node-4's address: the one mapped first by name keeps it, whatever the memo holds.
    nodes = [nodes[0]!, node({ name: 'node-2', roles: ['etcd'], cp: '10.100.0.4', wp: '10.200.0.2' }), nodes[3]!];
    nodes.push(node({ name: 'node-0', roles: [], cp: '10.100.0.9' }));
    const withMemo = membershipFromNodes(nodes, c.kubernetes!, c.networks, memo);
    expect(withMemo).toEqual(membershipFromNodes(nodes, c.kubernetes!, c.networks));
    expect(withMemo.leftOut.map((l) => l.node)).toEqual(['node-0', 'node-4']);
  });
});

describe('guards', () => {
  const nodes = (n: number) =>
    Array.from({ length: n }, (_, i) => ({
      name: `node-${i + 1}`,
      roles: [],
      addresses: { controlPlane: [], workloadPlane: [] },
    }));
  const g = { localName: 'node-1', maxShrink: 0.5, server: 'https://127.0.0.1:7443' };
  it('refuses a membership without the local node, naming it', () => {
    expect(refuseMembership({ ...g, next: nodes(3).slice(1), lastGoodCount: 3 })).toMatch(/do not include this node "node-1"/);
  });
  it('refuses a shrink beyond maxShrink, accepts one within it, and any size when there is no last good membership', () => {
    expect(refuseMembership({ ...g, next: nodes(4), lastGoodCount: 10 })).toMatch(/fewer than 5 .*had 10/);
    expect(refuseMembership({ ...g, next: nodes(5), lastGoodCount: 10 })).toBeUndefined();
    expect(refuseMembership({ ...g, next: nodes(1), lastGoodCount: undefined })).toBeUndefined();
    expect(refuseMembership({ ...g, maxShrink: 1, next: nodes(1), lastGoodCount: 100 })).toBeUndefined();
  });
});

describe('the cache file', () => {
  it('is an inventory that parses back to the same nodes, and the same bytes for the same membership', () => {
    const c = config();
    const specs = [1, 2, 3].map((i) =>
      node({ name: `node-${i}`, roles: i === 1 ? ['etcd'] : [], cp: `10.100.0.${i}`, wp: `10.200.0.${i}` }),
    );
    const m = membershipFromNodes(specs, c.kubernetes!, c.networks);
    const text = inventoryText(m.nodes, 'https://127.0.0.1:7443');
    expect(parseInventory(text, '/x/inventory.yaml').inventory.nodes).toEqual(m.nodes);
    expect(
      inventoryText(membershipFromNodes([...specs].reverse(), c.kubernetes!, c.networks).nodes, 'https://127.0.0.1:7443'),
    ).toBe(text);
  });

  it('a membership in force checked against narrower networks points at the line of its cache text (made again for the error)', () => {
    const c = config();
    const server = 'https://127.0.0.1:7443';
    const specs = [1, 2, 3].map((i) =>
      node({ name: `node-${i}`, roles: [], cp: `10.100.0.${i === 3 ? 50 : i}`, wp: `10.200.0.${i}` }),
    );
    const view = membershipView(specs, c, server);
    // The networks narrowed by a config edit before the membership is mapped again: node-3 is outside.
    const narrowed = parseConfig(
      edit(BASE_CONFIG, [
        ['  file: inventory.yaml\n', `  file: inventory.yaml\n${K8S}`],
        ['cidr: 10.100.0.0/24', 'cidr: 10.100.0.0/27'],
        ['management: [10.100.0.100]', 'management: []'],
        ['  roles: [bootstrap, master, etcd, infra, registry]\n', ''],
      ]),
      '/etc/artesca-fw/config.yaml',
      { hostname: 'node-1' },
    );
    let err: AfwError | undefined;
    try {
      checkCluster(narrowed, view.loaded);
    } catch (e) {
      err = e as AfwError;
    }
    const line = view.text().split('\n').indexOf('    controlPlaneIP: "10.100.0.50"') + 1;
    expect(line).toBeGreaterThan(4);
    expect(err?.problems.map((p) => [p.where?.file, p.where?.line, p.where?.field])).toEqual([
      [c.inventoryFile, line, 'nodes[2].controlPlaneIP'],
    ]);
  });
});

describe('sameMembers (what makes a membership event change nothing)', () => {
  const n = (name: string, roles: string[], cp: string[], wp: string[]) =>
    ({ name, roles, addresses: { controlPlane: cp, workloadPlane: wp } }) as InventoryNode;
  const a = [n('node-1', ['etcd'], ['10.100.0.1'], ['10.200.0.1']), n('node-2', [], ['10.100.0.2'], ['10.200.0.2'])];
  it('equal nodes, even as other objects, are the same membership', () => {
    expect(
      sameMembers(
        a,
        a.map((x) => ({ ...x, addresses: { ...x.addresses } })),
      ),
    ).toBe(true);
  });
  it('a role, an address, a name, the order or the count moved: not the same', () => {
    expect(sameMembers(a, [n('node-1', [], ['10.100.0.1'], ['10.200.0.1']), a[1]!])).toBe(false);
    expect(sameMembers(a, [a[0]!, n('node-2', [], ['10.100.0.2', 'fd00::2'], ['10.200.0.2'])])).toBe(false);
    expect(sameMembers(a, [a[0]!, n('node-3', [], ['10.100.0.2'], ['10.200.0.2'])])).toBe(false);
    expect(sameMembers(a, [a[1]!, a[0]!])).toBe(false);
    expect(sameMembers(a, [a[0]!])).toBe(false);
  });
});
