// A membership change as a delta of set members, from two desired states
// compiled from real configs: what is a delta, what is not.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toDesired } from '../../src/compile/desired.js';
import { desiredDelta } from '../../src/compile/desired-delta.js';
import { compileTexts, iface } from '../helpers/compile.js';
import { BASE_CONFIG, BASE_INVENTORY, edit } from '../helpers/fixtures.js';

const IFACES = [iface('cp0', '10.100.0.1'), iface('wp0', '10.200.0.1')];
const desired = (inventory: string, config = BASE_CONFIG) => toDesired(compileTexts(config, inventory, IFACES));
const NODE_4 = '  - name: node-4\n    roles: [etcd]\n    controlPlaneIP: 10.100.0.4\n    workloadPlaneIP: 10.200.0.4\n';

describe('desiredDelta', () => {
  it('a node added: its addresses added to the sets of its planes and roles, nothing deleted', () => {
    const d = desiredDelta(desired(BASE_INVENTORY), desired(BASE_INVENTORY + NODE_4))!;
    expect(d.leaving).toEqual([]);
    expect(d.edits.every((e) => e.op === 'add')).toBe(true);
    expect(d.edits.map((e) => e.member).sort()).toEqual(expect.arrayContaining(['10.100.0.4', '10.200.0.4']));
    expect(d.edits.filter((e) => e.set === 'afw4-cp-all')).toEqual([{ set: 'afw4-cp-all', op: 'add', member: '10.100.0.4' }]);
    expect(d.edits.some((e) => e.set.includes('-et') && e.member === '10.100.0.4')).toBe(true); // the etcd set
  });

  it('the same node removed: the inverse edits, and its addresses leave (their connections are cut)', () => {
    const added = desiredDelta(desired(BASE_INVENTORY), desired(BASE_INVENTORY + NODE_4))!;
    const removed = desiredDelta(desired(BASE_INVENTORY + NODE_4), desired(BASE_INVENTORY))!;
    expect(removed.edits.map((e) => `${e.set} ${e.member}`).sort()).toEqual(
      added.edits.map((e) => `${e.set} ${e.member}`).sort(),
    );
    expect(removed.edits.every((e) => e.op === 'del')).toBe(true);
    expect(removed.leaving).toEqual(['10.100.0.4', '10.200.0.4']);
  });

  it('no change: a delta with no edits', () => {
    expect(desiredDelta(desired(BASE_INVENTORY), desired(BASE_INVENTORY))).toEqual({ edits: [], leaving: [] });
  });

  it('not a delta: a rule changed (a policy added), a set gone, a set of another type', () => {
    const policy = edit(BASE_CONFIG, [
      [
        'policies: []',
        'policies:\n  - { name: extra, order: 300, appliesTo: { plane: controlPlane }, ingress: [{ action: allow, protocol: tcp, ports: [7000] }] }',
      ],
    ]);
    expect(desiredDelta(desired(BASE_INVENTORY), desired(BASE_INVENTORY, policy))).toBeNull();
    // A set gone (or new) with the rules unchanged: not a delta either.
    const before = desired(BASE_INVENTORY);
    expect(desiredDelta(before, { ...before, sets: before.sets.slice(1) })).toBeNull();
    expect(
      desiredDelta(before, { ...before, sets: [{ ...before.sets[0]!, type: 'hash:net' }, ...before.sets.slice(1)] }),
    ).toBeNull();
  });
});

describe('desiredDelta on sorted member lists (only the window that differs is compared)', () => {
  const asDesired = (members: string[]) => ({
    families: [],
    sets: [{ name: 'afw4-cp-all', family: 4 as const, type: 'hash:ip' as const, members, describes: '' }],
  });
  it('equals the set difference, whatever the lists', () => {
    const pool = Array.from({ length: 12 }, (_, i) => `10.0.0.${i + 1}`);
    const sorted = (picks: boolean[]) => pool.filter((_, i) => picks[i]);
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        (a, b) => {
          const prev = sorted(a);
          const next = sorted(b);
          const d = desiredDelta(asDesired(prev), asDesired(next))!;
          const adds = d.edits.filter((e) => e.op === 'add').map((e) => e.member);
          const dels = d.edits.filter((e) => e.op === 'del').map((e) => e.member);
          expect(adds.sort()).toEqual(next.filter((m) => !prev.includes(m)).sort());
          expect(dels.sort()).toEqual(prev.filter((m) => !next.includes(m)).sort());
          expect(d.leaving).toEqual([...dels].sort());
        },
      ),
      { numRuns: 500 },
    );
  });
});
