// isPlainInventoryNode spares zod the thousands of inventory items that are
// plainly right. It must never take an item zod's node schema refuses (that
// would let a bad inventory through unchecked), and what it takes must be
// what zod would give. It should take the items a real inventory holds, or it
// spares nothing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inventoryText } from '../../scripts/bench/fixtures.js';
import { inventorySchema, isPlainInventoryNode } from '../../src/config/schema.js';
import { parseInventory } from '../../src/config/validate-inventory.js';
import { parseYaml } from '../../src/config/yaml-source.js';

const nodeSchema = inventorySchema.shape.nodes.element;

const name = fc.oneof(
  fc.constantFrom('node-1', 'a', 'n.example.com', 'x_y', '', '-a', '.a', 'a b', 'é', 'a'.repeat(253), 'a'.repeat(254)),
  fc.string({ maxLength: 6 }),
);
const scalar = fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.constant(null), fc.boolean(), fc.constant(undefined));
const role = fc.oneof(fc.constantFrom('bootstrap', 'master', 'etcd', 'infra', 'registry', 'node', 'Master', ''), scalar);
const ip = fc.oneof(
  fc.constantFrom('10.0.0.1', 'fd00::1', 'x'),
  fc.array(fc.oneof(fc.constantFrom('10.0.0.1', 'fd00::1'), scalar), { maxLength: 3 }),
  scalar,
  fc.constant({}),
);
const fields = fc.record(
  {
    name: fc.oneof(name, scalar),
    roles: fc.oneof(fc.array(role, { maxLength: 4 }), scalar, fc.constant({ 0: 'master', length: 1 })),
    controlPlaneIP: ip,
    workloadPlaneIP: ip,
    extra: scalar,
  },
  { requiredKeys: [] },
);
// All four fields, of the types the guard looks for, with values near the edges of what the schema takes.
const nearlyRight = fc.record({
  name,
  roles: fc.array(fc.constantFrom('bootstrap', 'master', 'etcd', 'infra', 'registry', 'node', 'Master'), { maxLength: 3 }),
  controlPlaneIP: fc.oneof(
    fc.constantFrom('10.0.0.1', 'x', ''),
    fc.array(fc.constantFrom('10.0.0.1', 'fd00::1'), { maxLength: 2 }),
  ),
  workloadPlaneIP: fc.oneof(
    fc.constantFrom('10.0.0.1', 'x', ''),
    fc.array(fc.constantFrom('10.0.0.1', 'fd00::1'), { maxLength: 2 }),
  ),
});
// Objects that are not plain records: no prototype, a class instance, an array, one with an own __proto__ key.
const oddObject = fc.constantFrom<unknown>(
  Object.assign(Object.create(null), { name: 'a', roles: [], controlPlaneIP: '10.0.0.1', workloadPlaneIP: '10.0.0.2' }),
  new (class Item {
    name = 'a';
    roles = [];
    controlPlaneIP = '10.0.0.1';
    workloadPlaneIP = '10.0.0.2';
  })(),
  ['a', [], '10.0.0.1', '10.0.0.2'],
  JSON.parse('{"name":"a","roles":[],"controlPlaneIP":"10.0.0.1","workloadPlaneIP":"10.0.0.2","__proto__":{}}'),
  null,
  'node-1',
);

describe('isPlainInventoryNode', () => {
  it('takes nothing zod refuses, and what it takes is what zod gives', () => {
    let taken = 0;
    fc.assert(
      fc.property(fc.oneof(nearlyRight, fields, oddObject), (item) => {
        if (!isPlainInventoryNode(item)) return;
        taken++;
        const parsed = nodeSchema.safeParse(item);
        expect(parsed.success).toBe(true);
        expect(parsed.data).toEqual(item);
      }),
      { numRuns: 20000 },
    );
    expect(taken).toBeGreaterThan(200); // the property was tested on items it takes, not only refused
  });

  it('takes every item of a generated inventory, as js-yaml reads it', () => {
    const text = inventoryText(200);
    const items = (parseYaml(text, 'inventory.yaml', 'AFW_INVENTORY_INVALID').data as { nodes: unknown[] }).nodes;
    expect(items.every(isPlainInventoryNode)).toBe(true);
    expect(parseInventory(text, 'inventory.yaml').inventory.nodes).toHaveLength(200);
  });
});
