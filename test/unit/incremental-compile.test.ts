// A Node event maps one Node and moves a few set members instead of mapping
// and compiling everything again: each shortcut must give exactly what the
// whole computation gives, whatever the sequence of changes (property tests
// against the whole computation), and say when it cannot.
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { stateChunks } from '../../src/agent/state-store.js';
import { compile } from '../../src/compile/compile.js';
import { desiredHash, toDesired } from '../../src/compile/desired.js';
import { type PeerSetsMemo, planeSetName, searchAddress, sortAddresses } from '../../src/compile/peer-sets.js';
import type { Config, InventoryNode, Role } from '../../src/config/model.js';
import { ROLES } from '../../src/config/model.js';
import { parseConfig } from '../../src/config/validate-config.js';
import { inventoryChunks, inventoryText } from '../../src/membership/inventory-text.js';
import { type MappingMemo, type Membership, membershipAfter, membershipFromNodes } from '../../src/membership/node-mapping.js';
import type { NodeObject } from '../../src/membership/node-object.js';
import { iface } from '../helpers/compile.js';
import { makeNode } from '../helpers/fake-apiserver.js';
import { BASE_CONFIG, edit } from '../helpers/fixtures.js';

const K8S = '  kubernetes:\n    kubeconfig: /etc/artesca-fw/kubeconfig\n';
const kubeConfig = parseConfig(
  edit(BASE_CONFIG, [['  file: inventory.yaml\n', `  file: inventory.yaml\n${K8S}`]]),
  '/etc/artesca-fw/config.yaml',
  { hostname: 'node-1' },
).config;

const NAMES = Array.from({ length: 8 }, (_, i) => `node-${i + 1}`);
const roles = fc.subarray([...ROLES, 'node']);
// Few addresses for many Nodes: conflicts happen. 192.168.0.x lies outside the CIDR (left out), as does no wp at all.
const cp = fc.constantFrom('10.100.0.1', '10.100.0.2', '10.100.0.3', '10.100.0.4', '10.100.0.5', '192.168.0.9');
const wp = fc.option(fc.constantFrom('10.200.0.1', '10.200.0.2', '10.200.0.3', '10.200.0.4', '10.200.0.5'), { nil: undefined });
const nodeEvent = fc.record({
  name: fc.constantFrom(...NAMES),
  deleted: fc.boolean(),
  spec: fc.record({ roles, cp, wp }),
});

describe('membershipAfter: one Node event against mapping all Nodes', () => {
  it('gives what membershipFromNodes gives after any sequence of events, or null', () => {
    let shortcuts = 0;
    fc.assert(
      fc.property(fc.array(nodeEvent, { minLength: 1, maxLength: 30 }), (events) => {
        // Insertion order, as the informer's map keeps it (added Nodes come last).
        const nodes = new Map<string, NodeObject>();
        const memo: MappingMemo = new WeakMap();
        const k8s = kubeConfig.kubernetes!;
        let before: Membership = membershipFromNodes(nodes.values(), k8s, kubeConfig.networks, memo);
        events.forEach((e, rv) => {
          if (e.deleted) nodes.delete(e.name);
          else nodes.set(e.name, makeNode({ name: e.name, ...e.spec }, rv + 1) as unknown as NodeObject);
          const all = membershipFromNodes(nodes.values(), k8s, kubeConfig.networks);
          const after = membershipAfter(before, e.name, nodes.get(e.name), k8s, kubeConfig.networks, memo);
          if (after) {
            shortcuts++;
            expect(after).toEqual(all);
          }
          before = after ?? all;
        });
      }),
      { numRuns: 400 },
    );
    expect(shortcuts).toBeGreaterThan(100); // the shortcut is taken, not only refused
  });
});

/** Inventory nodes with unique addresses per plane (as validation and the mapping guarantee), dual stack on some. */
const inventoryNode = (i: number, r: Role[], v6: boolean): InventoryNode => ({
  name: `node-${i}`,
  roles: r,
  addresses: {
    controlPlane: [`10.100.0.${i}`, ...(v6 ? [`fd00:100::${i.toString(16)}`] : [])],
    workloadPlane: [`10.200.0.${i}`, ...(v6 ? [`fd00:200::${i.toString(16)}`] : [])],
  },
});

type Change =
  | { kind: 'roles' | 'add' | 'remove' | 'readdress'; at: number; roles: Role[]; v6: boolean }
  | { kind: 'vip' | 'clash'; at: number; roles: Role[]; v6: boolean };

const change = fc.record({
  kind: fc.constantFrom('roles', 'add', 'remove', 'readdress', 'vip', 'clash'),
  at: fc.nat(200),
  roles: fc.subarray([...ROLES]),
  v6: fc.boolean(),
}) as fc.Arbitrary<Change>;

function changed(nodes: InventoryNode[], config: Config, c: Change, next: number): { nodes: InventoryNode[]; config: Config } {
  const out = [...nodes];
  const at = nodes.length === 0 ? 0 : c.at % nodes.length;
  switch (c.kind) {
    case 'roles':
      if (out[at]) out[at] = { ...out[at]!, roles: c.roles };
      break;
    case 'add':
      out.splice(at, 0, inventoryNode(next, c.roles, c.v6));
      break;
    case 'remove':
      out.splice(at, 1);
      break;
    case 'readdress':
      if (out[at]) out[at] = { ...inventoryNode(next, out[at]!.roles, c.v6), name: out[at]!.name };
      break;
    case 'clash': {
      // Two nodes with one address (validation refuses it; the compile must still agree with itself).
      const other = out[(at + 1) % Math.max(1, out.length)];
      if (out[at] && other && other !== out[at])
        out[at] = { ...out[at]!, addresses: { ...out[at]!.addresses, controlPlane: other.addresses.controlPlane } };
      break;
    }
    case 'vip': {
      // A VIP that is also a node's address, or another VIP list.
      const vip = out[at]?.addresses.controlPlane[0] ?? '10.100.0.250';
      return { nodes: out, config: { ...config, virtualIPs: { ...config.virtualIPs, management: [vip] } } };
    }
  }
  return { nodes: out, config };
}

describe('peer sets updated from the last compile against made from all nodes', () => {
  const base = parseConfig(BASE_CONFIG, '/etc/artesca-fw/config.yaml', { hostname: 'node-1' }).config;
  const IFACES = [iface('cp0', '10.100.0.1'), iface('wp0', '10.200.0.1')];
  const initial = fc.array(fc.record({ roles: fc.subarray([...ROLES]), v6: fc.boolean() }), { minLength: 0, maxLength: 12 });

  it('the same sets after any sequence of changes; a set no change touched is the same object', () => {
    let kept = 0;
    fc.assert(
      fc.property(initial, fc.array(change, { minLength: 1, maxLength: 12 }), (start, changes) => {
        let nodes = start.map((s, i) => inventoryNode(i + 1, s.roles, s.v6));
        let config = base;
        const memo: PeerSetsMemo = { last: null };
        let before = compile({ config, inventory: { file: 'x', nodes }, interfaces: IFACES, setsMemo: memo });
        changes.forEach((c, k) => {
          ({ nodes, config } = changed(nodes, config, c, 100 + k));
          const inventory = { file: 'x', nodes };
          const updated = compile({ config, inventory, interfaces: IFACES, setsMemo: memo });
          const made = compile({ config, inventory, interfaces: IFACES });
          expect(updated.sets).toEqual(made.sets);
          for (const s of updated.sets) {
            const old = before.sets.find((x) => x.name === s.name);
            if (!old || !/-(cp|wp)-/.test(s.name)) continue;
            if (old === s) kept++;
            // Another VIP list makes every set again; otherwise a new object only when members moved.
            else if (c.kind !== 'vip') expect(old.members).not.toEqual(s.members);
          }
          before = updated;
        });
      }),
      { numRuns: 300 },
    );
    expect(kept).toBeGreaterThan(100);
  });

  it('a set made from all nodes holds what its definition says, sorted: role holders and, for all, the VIPs', () => {
    const subsets = [undefined, ...Array.from({ length: 31 }, (_, m) => ROLES.filter((_r, b) => m & (2 ** b)))];
    const vipPool = fc.constantFrom('10.100.0.0', '10.100.0.3', '10.100.0.7', '10.100.0.255', 'fd00:100::2', 'fd00:100::ff');
    fc.assert(
      fc.property(initial, fc.array(change, { maxLength: 6 }), fc.array(vipPool, { maxLength: 4 }), (start, changes, vips) => {
        let nodes = start.map((s, i) => inventoryNode(i + 1, s.roles, s.v6));
        let config = base;
        changes.forEach((c, k) => {
          ({ nodes, config } = changed(nodes, config, c, 100 + k));
        });
        config = { ...config, virtualIPs: { ...config.virtualIPs, management: vips } };
        const made = compile({ config, inventory: { file: 'x', nodes }, interfaces: IFACES });
        for (const set of made.sets) {
          const m = /^afw([46])-(cp|wp)-/.exec(set.name);
          if (!m) continue;
          const family = Number(m[1]) as 4 | 6;
          const plane = m[2] === 'cp' ? 'controlPlane' : 'workloadPlane';
          const roles = subsets.find((r) => planeSetName(plane, r, family) === set.name);
          const held = nodes
            .filter((n) => !roles || n.roles.some((r) => roles.includes(r)))
            .flatMap((n) => n.addresses[plane])
            .filter((a) => a.includes(':') === (family === 6));
          const withVips = roles ? held : [...held, ...config.virtualIPs[plane === 'controlPlane' ? 'management' : 'data']];
          const expected = sortAddresses([...new Set(withVips.filter((a) => a.includes(':') === (family === 6)))]);
          expect(set.members).toEqual(expected);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('searchAddress finds what sortAddresses placed, and where a missing one goes', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.oneof(fc.ipV4(), fc.ipV6()), { maxLength: 20 }),
        fc.oneof(fc.ipV4(), fc.ipV6()),
        (list, probe) => {
          const canonical = (a: string) => ipaddr.parse(a).toString();
          const sorted = sortAddresses([...new Set(list.map(canonical))]);
          sorted.forEach((a, i) => {
            expect(searchAddress(sorted, a)).toBe(i);
          });
          const p = canonical(probe);
          if (sorted.includes(p)) return;
          const at = -searchAddress(sorted, p) - 1;
          expect(sortAddresses([...sorted, p])).toEqual([...sorted.slice(0, at), p, ...sorted.slice(at)]);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('texts made in pieces', () => {
  const base = parseConfig(BASE_CONFIG, '/etc/artesca-fw/config.yaml', { hostname: 'node-1' }).config;
  const nodes = Array.from({ length: 1203 }, (_, i) => inventoryNode(i + 1, i % 3 ? ['etcd', 'master'] : [], i % 5 === 0));
  const desired = toDesired(compile({ config: base, inventory: { file: 'x', nodes }, interfaces: [iface('cp0', '10.100.0.1')] }));

  it('desiredHash with its memo of set texts hashes the same bytes as without, first time and again', () => {
    const memo = new WeakMap();
    expect(desiredHash(desired, memo)).toBe(desiredHash(desired));
    expect(desiredHash(desired, memo)).toBe(desiredHash(desired));
  });

  it('the last-known-good text in pieces is the text JSON.stringify gives', () => {
    const state = {
      format: 2 as const,
      savedAt: '2026-12-05T00:00:00.000Z',
      node: 'node-1',
      backend: 'nft' as const,
      hash: 'h',
      desired,
    };
    expect([...stateChunks(state)].join('')).toBe(`${JSON.stringify(state, null, 1)}\n`);
    const none = { ...state, desired: { ...desired, sets: [] } };
    expect([...stateChunks(none)].join('')).toBe(`${JSON.stringify(none, null, 1)}\n`);
    expect([...stateChunks(state)].length).toBeGreaterThan(desired.sets.length);
  });

  it('the cache text in pieces of 500 nodes joins to the whole text', () => {
    const chunks = [...inventoryChunks(nodes, 'https://127.0.0.1:6443')];
    expect(chunks.length).toBe(1 + Math.ceil(nodes.length / 500));
    expect(chunks.join('')).toBe(inventoryText(nodes, 'https://127.0.0.1:6443'));
    expect(
      inventoryText(nodes, 'https://x')
        .split('\n')
        .filter((l) => l.startsWith('  - name:')).length,
    ).toBe(1203);
  });
});
