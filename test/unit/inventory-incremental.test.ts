// The daemon reads the inventory with a reader that keeps parsed and checked
// nodes between reads. Whatever the sequence of edits, each read must give
// exactly what a fresh read of the same text gives: the same inventory, or the
// same problems at the same file:line:col:field. And what it hands out
// (parsed nodes shared between reads) must compile to the same ruleset.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compile/compile.js';
import { parseConfig } from '../../src/config/validate-config.js';
import { checkCluster, parseInventory } from '../../src/config/validate-inventory.js';
import { ChunkedYamlReader } from '../../src/config/yaml-chunks.js';
import { AfwError } from '../../src/errors.js';
import { iface } from '../helpers/compile.js';
import { BASE_CONFIG } from '../helpers/fixtures.js';

const FILE = '/etc/artesca-fw/inventory.yaml';

/** A node entry, now and then with one of the mistakes the checks must find. */
/** Usually one of `good`, about one time in ten one of `bad`. */
const mostly = (good: string[], bad: string[]) =>
  fc.noBias(fc.nat({ max: 99 })).map((i) => (i < 90 ? good[i % good.length]! : bad[i % bad.length]!));

const nodeEntry = fc
  .record({
    n: fc.integer({ min: 2, max: 60 }),
    roles: mostly(['[]', '[master, etcd]', '[infra]', '[bootstrap, master, etcd, infra, registry]'], ['[etcd, etcd]', '[nope]']),
    cp: mostly(['OWN', '[OWN, "fd00::1"]'], ['10.100.0.1', '"not-an-ip"', '[OWN, 10.100.0.77]']),
    wp: mostly(['OWN'], ['missing', '10.200.0.300']),
    extra: mostly([''], ['    color: blue\n']),
  })
  .map((e) => {
    const own = (plane: number) => `10.${plane}.0.${e.n}`;
    const wp = e.wp === 'missing' ? '' : `    workloadPlaneIP: ${e.wp === 'OWN' ? own(200) : e.wp}\n`;
    return `  - name: node-${e.n}\n    roles: ${e.roles}\n    controlPlaneIP: ${e.cp.replace('OWN', own(100))}\n${wp}${e.extra}`;
  });

const inventory = fc
  .array(nodeEntry, { minLength: 1, maxLength: 8 })
  .map(
    (entries) =>
      `apiVersion: artesca-fw/v1\nnodes:\n  - name: node-1\n    roles: [bootstrap, master, etcd, infra, registry]\n    controlPlaneIP: 10.100.0.1\n    workloadPlaneIP: 10.200.0.1\n${entries.join('')}`,
  );

function outcome(read: () => unknown): unknown {
  try {
    const r = read() as { inventory: unknown };
    return { ok: r.inventory };
  } catch (err) {
    if (!(err instanceof AfwError)) throw err;
    return { code: err.code, message: err.message, problems: err.problems };
  }
}

describe('inventory read with the daemon reader (kept between reads)', () => {
  it('each read equals a fresh read of the same text, whatever came before', () => {
    let valid = 0;
    let invalid = 0;
    fc.assert(
      fc.property(fc.array(inventory, { minLength: 1, maxLength: 6 }), (texts) => {
        const reader = new ChunkedYamlReader('nodes');
        for (const text of texts) {
          const fresh = outcome(() => parseInventory(text, FILE));
          const kept = outcome(() => parseInventory(text, FILE, reader));
          expect(kept).toEqual(fresh);
          if ((fresh as { ok?: unknown }).ok) valid++;
          else invalid++;
        }
      }),
      { numRuns: 400 },
    );
    // Both kinds were seen (the generator makes mistakes often, not always).
    expect(valid).toBeGreaterThan(100);
    expect(invalid).toBeGreaterThan(100);
  });

  it('what it hands out compiles to the same ruleset as a fresh read, edit after edit', () => {
    const cfg = parseConfig(BASE_CONFIG, '/etc/artesca-fw/config.yaml', { hostname: 'x' });
    const interfaces = [iface('cp0', '10.100.0.1'), iface('wp0', '10.200.0.1')];
    const reader = new ChunkedYamlReader('nodes');
    const texts = [2, 3, 5, 3].map(
      (k) =>
        `apiVersion: artesca-fw/v1\nnodes:\n  - name: node-1\n    roles: [bootstrap, master, etcd, infra, registry]\n    controlPlaneIP: 10.100.0.1\n    workloadPlaneIP: 10.200.0.1\n${Array.from(
          { length: k },
          (_, i) =>
            `  - name: node-${i + 2}\n    roles: [${i % 2 ? 'etcd' : 'infra'}]\n    controlPlaneIP: 10.100.0.${i + 2}\n    workloadPlaneIP: 10.200.0.${i + 2}\n`,
        ).join('')}`,
    );
    for (const text of texts) {
      const kept = parseInventory(text, FILE, reader);
      const fresh = parseInventory(text, FILE);

      checkCluster(cfg, kept);
      const a = compile({ config: cfg.config, inventory: kept.inventory, interfaces });
      const b = compile({ config: cfg.config, inventory: fresh.inventory, interfaces });
      expect(a).toEqual(b);
    }
  });
});

describe('the cluster check with the daemon memo (nodes found inside the CIDRs kept between checks)', () => {
  it('each check equals a check without memo, whatever came before, as the CIDRs change too', () => {
    const wide = parseConfig(BASE_CONFIG, '/etc/artesca-fw/config.yaml', { hostname: 'x' });
    const narrow = parseConfig(
      BASE_CONFIG.replace('cidr: 10.100.0.0/24', 'cidr: 10.100.0.0/27').replace('management: [10.100.0.100]', 'management: []'),
      '/etc/artesca-fw/config.yaml',
      {
        hostname: 'x',
      },
    );
    let refused = 0;
    fc.assert(
      fc.property(fc.array(fc.tuple(inventory, fc.boolean()), { minLength: 1, maxLength: 6 }), (steps) => {
        const reader = new ChunkedYamlReader('nodes');
        const memo = { key: '', inside: new WeakSet<object>() };
        for (const [text, narrowed] of steps) {
          const cfg = narrowed ? narrow : wide;
          let kept: ReturnType<typeof parseInventory>;
          try {
            kept = parseInventory(text, FILE, reader);
          } catch {
            continue; // the inventory's own checks: the property above
          }
          const fresh = parseInventory(text, FILE);
          const a = outcome(() => {
            checkCluster(cfg, kept, memo);
            return { inventory: 'ok' };
          });
          const b = outcome(() => {
            checkCluster(cfg, fresh);
            return { inventory: 'ok' };
          });
          expect(a).toEqual(b);
          if (!(b as { ok?: unknown }).ok) refused++;
        }
      }),
      { numRuns: 300 },
    );
    expect(refused).toBeGreaterThan(20); // the narrow CIDR leaves nodes out often
  });
});
