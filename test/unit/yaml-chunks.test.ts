// The incremental inventory reader must give exactly what a whole-file parse
// gives, or step aside (undefined) so that the whole-file parse runs. Checked
// on generated files in many layouts, including the ones it must refuse.
import fc from 'fast-check';
import jsyaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ChunkedYamlReader, cutSequence } from '../../src/config/yaml-chunks.js';

const full = (text: string): { ok: true; value: unknown } | { ok: false } => {
  try {
    return { ok: true, value: jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA }) };
  } catch {
    return { ok: false };
  }
};

/** Mostly `usual`, sometimes one of `rare` (the layouts the reader must refuse or get right in context). */
const mostly = <T>(usual: T[], rare: T[]) =>
  fc.noBias(fc.nat({ max: 999 })).map((i) => (i < 980 ? usual[i % usual.length]! : rare[i % rare.length]!));

/** Pieces a node can be written with; some are ones the reader must refuse or get right in context. */
const nodeText = (indent: number) =>
  fc
    .record({
      name: fc.constantFrom('node-1', 'node-2', '"node-3"', "'node-4'", 'node-5 # a comment', 'node-1'),
      roles: mostly(
        ['[master, etcd]', '[]', 'BLOCK', 'BLOCK_COMPACT'],
        [
          '[infra,\n  etcd]', // a flow list over two lines, continued at the item's indent
          '[infra,\n        etcd]',
        ],
      ),
      ip: fc.constantFrom('10.100.0.1', '"10.100.0.2"', '[10.100.0.3, "fd00::3"]', '10.100.0.4   # trailing'),
      extra: mostly(
        ['', 'flow: {a: 1}'],
        [
          'note: |\n  - not an item\n  text',
          'note: plain\n  continued',
          'ref: &a 1',
          'use: *a',
          'tag: !!str 5',
          '<<: {x: 1}',
          '\tbad: tab',
        ],
      ),
      comment: mostly(['', '# between', '   # indented comment', '\n'], ['---', '...']),
      flow: mostly([false], [true]),
    })
    .map((n) => {
      const pad = ' '.repeat(indent);
      const inner = ' '.repeat(indent + 2);
      if (n.flow) return `${pad}- { name: ${n.name.replace(/ #.*/, '')}, roles: [], controlPlaneIP: 10.1.1.1 }\n${n.comment}\n`;
      const roles =
        n.roles === 'BLOCK'
          ? `\n${inner}  - master\n${inner}  - etcd`
          : n.roles === 'BLOCK_COMPACT'
            ? `\n${inner}- infra`
            : ` ${n.roles}`;
      const extra = n.extra
        ? `\n${n.extra
            .split('\n')
            .map((l) => `${inner}${l}`)
            .join('\n')}`
        : '';
      return `${pad}- name: ${n.name}\n${inner}roles:${roles}\n${inner}controlPlaneIP: ${n.ip}${extra}\n${n.comment}\n`;
    });

const documentText = fc
  .record({
    indent: fc.constantFrom(0, 2, 4),
    before: mostly(
      ['apiVersion: artesca-fw/v1\n', '# inventory\napiVersion: artesca-fw/v1\n\n'],
      ['%YAML 1.2\n---\napiVersion: x\n'],
    ),
    keyLine: mostly(['nodes:', 'nodes:   # all of them'], ['nodes: !!seq', '"nodes":']),
    after: mostly(['', 'other: 1\n', '# end\n'], ['nodes: []\n', '  stray: 1\n']),
    crlf: mostly([false], [true]),
  })
  .chain((d) =>
    fc.array(nodeText(d.indent), { minLength: 1, maxLength: 6 }).map((nodes) => {
      const t = `${d.before}${d.keyLine}\n${nodes.join('')}${d.after}`;
      return d.crlf ? t.replace(/\n/g, '\r\n') : t;
    }),
  );

describe('incremental inventory reader (yaml-chunks)', () => {
  it('gives what a whole-file parse gives, or steps aside; never accepts what the parser refuses', () => {
    let taken = 0;
    fc.assert(
      fc.property(documentText, (text) => {
        const got = new ChunkedYamlReader('nodes').read(text);
        const want = full(text);
        if (got !== undefined) {
          taken++;
          expect(want.ok).toBe(true);
          if (want.ok) expect(got).toEqual(want.value);
        }
      }),
      { numRuns: 3000 },
    );
    // It must not step aside from everything: the plain layouts are taken.
    expect(taken).toBeGreaterThan(1000);
  });

  it('across edits with one reader: each read equals the whole-file parse of that text', () => {
    fc.assert(
      fc.property(fc.array(documentText, { minLength: 2, maxLength: 5 }), (texts) => {
        const reader = new ChunkedYamlReader('nodes');
        for (const text of texts) {
          const got = reader.read(text);
          const want = full(text);
          if (got !== undefined) expect(want.ok && want.value).toEqual(got);
        }
      }),
      { numRuns: 500 },
    );
  });

  const inventory = (n: number, extra: string[] = []) =>
    stringify({
      apiVersion: 'artesca-fw/v1',
      nodes: [
        ...Array.from({ length: n }, (_, i) => ({
          name: `node-${i + 1}`,
          roles: i ? [] : ['master', 'etcd'],
          controlPlaneIP: `10.100.0.${i + 1}`,
        })),
        ...extra.map((name) => ({ name, roles: [], controlPlaneIP: '10.100.1.1' })),
      ],
    });

  it('on an edit re-parses only the nodes whose text changed', () => {
    const reader = new ChunkedYamlReader('nodes');
    expect(reader.read(inventory(200))).toEqual(full(inventory(200)).ok && jsyaml.load(inventory(200)));
    expect(reader.lastParsed).toBe(200);
    const edited = inventory(200, ['extra']);
    expect(reader.read(edited)).toEqual(jsyaml.load(edited));
    expect(reader.lastParsed).toBe(1);
    expect(reader.read(inventory(200))).toEqual(jsyaml.load(inventory(200)));
    expect(reader.lastParsed).toBe(0);
  });

  it('hands out frozen values: a caller cannot change what the next read returns', () => {
    const reader = new ChunkedYamlReader('nodes');
    const data = reader.read(inventory(3)) as { nodes: { roles: string[] }[] };
    expect(() => data.nodes[0]!.roles.push('x')).toThrow(TypeError);
  });

  it('refuses to cut what it cannot cut with certainty', () => {
    const base = 'apiVersion: v1\nnodes:\n  - name: a\n    roles: []\n';
    expect(cutSequence(base, 'nodes')?.items).toEqual(['  - name: a\n    roles: []\n']);
    for (const text of [
      base.replace(/\n/g, '\r\n'),
      `${base}nodes: []\n`,
      base.replace('nodes:', 'nodes: # c'), // a comment is fine...
      base.replace('nodes:', 'nodes: []'), // ...a value is not
      `---\n${base}`,
      base.replace('    roles', '\troles'),
    ]) {
      const cut = cutSequence(text, 'nodes');
      if (text.includes('# c')) expect(cut).toBeDefined();
      else expect(cut, JSON.stringify(text)).toBeUndefined();
    }
  });
});
