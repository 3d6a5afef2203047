// `artesca-fw import calico`: the selector language, the mapping, and the
// proof that an import means what the Calico resources meant: an evaluator of
// Calico's host-endpoint semantics (test/helpers/calico-eval.ts, written from
// Calico's documentation) and `explain` on the imported config agree on every
// cell of a matrix (nodes x planes x directions x peers x protocols x ports),
// for the seed document's seven policies and variants of them.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { explain } from '../../src/compile/explain.js';
import { importCalicoCommand } from '../../src/import/import-command.js';
import { parseSelector, SelectorError, selects } from '../../src/import/selector.js';
import { type CalicoObjects, calicoVerdict } from '../helpers/calico-eval.js';
import { compileTexts, iface } from '../helpers/compile.js';
import { BASE_CONFIG, BASE_INVENTORY, tempDir } from '../helpers/fixtures.js';

const SEED = readFileSync(new URL('../fixtures/calico/seed.yaml', import.meta.url), 'utf8');
type Item = { kind: string; metadata: { name: string; labels?: Record<string, string> }; spec: Record<string, unknown> };
const seedItems = (): Item[] => (parse(SEED) as { items: Item[] }).items;

describe('Calico selectors', () => {
  const L = { type: 'webserver', deployment: 'prod', 'node-role.kubernetes.io/master': '' };
  it.each([
    ['all()', true],
    ['', true],
    ['global()', true],
    ["type == 'webserver'", true],
    ['type == "database"', false],
    ["type != 'database'", true],
    ["missing != 'x'", true], // a label that is absent is not equal to anything
    ['has(type)', true],
    ['!has(my-label)', true],
    ["type in { 'webserver', 'database' }", true],
    ["type not in {'webserver'}", false],
    ["missing not in {'a'}", true],
    ["type contains 'serv'", true],
    ["type starts with 'web'", true],
    ["type ends with 'server'", true],
    ["has(type) && type in {'webserver', 'database'}", true],
    ["type == 'webserver' && deployment == 'prod'", true],
    ["type == 'database' || has(node-role.kubernetes.io/master)", true],
    ["!(type == 'webserver' && deployment == 'prod')", false],
    ["type == 'a' || type == 'b' && deployment == 'prod'", false], // && binds tighter than ||
    ["(type == 'a' || type == 'webserver') && deployment == 'prod'", true],
  ])('%s -> %s', (text, want) => {
    expect(selects(parseSelector(text), L)).toBe(want);
  });

  it.each([
    ['has(foo', /no closing '\)' after has\(/, 7],
    ['type == webserver', /expected a quoted string/, 8],
    ["type = 'x'", /expected an operator after the label "type"/, 5],
    ["type == 'x' &&", /ends too early/, 14],
    ["type in {'a' 'b'}", /expected '\}'/, 13],
    ["type == 'x' )", /after a complete selector/, 12],
    ["type == 'unclosed", /not closed/, 8],
  ])('refuses %s', (text, message, offset) => {
    let err: unknown;
    try {
      parseSelector(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SelectorError);
    expect((err as SelectorError).message).toMatch(message);
    expect((err as SelectorError).offset).toBe(offset);
  });
});

const tmp = tempDir('afw-import-');
afterAll(() => tmp.cleanup());
const configFile = path.join(tmp.dir, 'config.yaml');
writeFileSync(configFile, BASE_CONFIG);
writeFileSync(path.join(tmp.dir, 'inventory.yaml'), BASE_INVENTORY);

async function importItems(items: Item[], name = 'calico.yaml') {
  const file = path.join(tmp.dir, name);
  writeFileSync(file, stringify({ apiVersion: 'v1', kind: 'List', items }));
  return importCalicoCommand([file], configFile, {});
}

/** The config a node would run: BASE_CONFIG's policies and failsafe replaced by the import. */
function configWith(imported: string, node: string, roles: string[]): string {
  const base = BASE_CONFIG.replace('policies: []\n', '')
    .replace(/failsafe:\n {2}inbound: .*\n {2}outbound: .*\n/, '')
    .replace('name: node-1', `name: ${node}`)
    .replace(/roles: \[[^\]]*\]/, `roles: [${roles.join(', ')}]`);
  return `${base}\n${imported}`;
}

const NODES = [
  { name: 'node-1', roles: ['bootstrap', 'master', 'etcd', 'infra', 'registry'], n: 1 },
  { name: 'node-2', roles: ['master', 'etcd', 'infra'], n: 2 },
  { name: 'node-3', roles: [], n: 3 },
];
const PLANES = [
  { plane: 'controlPlane', label: 'control-plane', net: '10.100.0' },
  { plane: 'workloadPlane', label: 'workload-plane', net: '10.200.0' },
] as const;

function objects(items: Item[]): CalicoObjects {
  const felix = items.find((i) => i.kind === 'FelixConfiguration')?.spec ?? {};
  const fs = (list: unknown) =>
    (list as { protocol: string; port: number; net?: string }[]).map((e) => ({ ...e, protocol: e.protocol.toLowerCase() }));
  return {
    policies: items.filter((i) => i.kind === 'GlobalNetworkPolicy').map((i) => ({ name: i.metadata.name, spec: i.spec })),
    endpoints: items
      .filter((i) => i.kind === 'HostEndpoint')
      .map((i) => ({ name: i.metadata.name, labels: i.metadata.labels ?? {}, ips: i.spec.expectedIPs as string[] })),
    ...(felix.failsafeInboundHostPorts !== undefined
      ? { failsafe: { inbound: fs(felix.failsafeInboundHostPorts), outbound: fs(felix.failsafeOutboundHostPorts ?? []) } }
      : {}),
  };
}

/** Every port any rule or failsafe names, and one nobody does. */
function portsOf(items: Item[]): number[] {
  const ports = new Set<number>([9999, 22, 68, 53, 67, 179, 2379, 2380, 5473, 6443, 6666, 6667]);
  const walk = (v: unknown, key?: string): void => {
    if (Array.isArray(v)) {
      if (key === 'ports') for (const p of v) ports.add(Number(String(p).split(':')[0]));
      else for (const x of v) walk(x);
    } else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(items);
  return [...ports].sort((a, b) => a - b);
}

/** Where explain (on the imported config) and the Calico evaluator disagree, over the whole matrix. */
async function disagreements(
  items: Item[],
  judgedBy: Item[] = items,
): Promise<{ cells: number; v6cells: number; wrong: string[] }> {
  const result = await importItems(items);
  const data = result.data as { policies: unknown; failsafe: unknown };
  const imported = stringify({ policies: data.policies, failsafe: data.failsafe });
  const calico = objects(judgedBy);
  const wrong: string[] = [];
  let cells = 0;
  let v6cells = 0;
  const combos: { protocol: number; port?: number }[] = [
    ...portsOf([...items, ...judgedBy]).flatMap((port) => [
      { protocol: 6, port },
      { protocol: 17, port },
    ]),
    { protocol: 112 },
  ];
  // Dual stack when the host endpoints have IPv6 addresses: then the workload plane is, in the config and the inventory too.
  const dual = items.some((i) => i.kind === 'HostEndpoint' && (i.spec.expectedIPs as string[]).some((a) => a.includes(':')));
  const inventory = dual
    ? BASE_INVENTORY.replace(/workloadPlaneIP: 10\.200\.0\.(\d+)/g, 'workloadPlaneIP: [10.200.0.$1, "fd00:200::$1"]')
    : BASE_INVENTORY;
  for (const node of NODES) {
    const config = configWith(imported, node.name, node.roles);
    const rs = compileTexts(
      dual ? config.replace('cidr: 10.200.0.0/24', 'cidr: [10.200.0.0/24, "fd00:200::/64"]') : config,
      inventory,
      [
        iface('eth0', `10.100.0.${node.n}`),
        dual ? iface('eth1', `10.200.0.${node.n}`, `fd00:200::${node.n}`) : iface('eth1', `10.200.0.${node.n}`),
      ],
    );
    const families = (pl: (typeof PLANES)[number]) => [pl.net, ...(dual && pl.plane === 'workloadPlane' ? ['fd00:200:'] : [])];
    for (const pl of PLANES)
      for (const net of families(pl)) {
        const at = (n: number | string) => (net.endsWith(':') ? `${net}:${n}` : `${net}.${n}`);
        const local = at(node.n);
        const peers = [...NODES.filter((p) => p.n !== node.n).map((p) => at(p.n)), at(50)];
        for (const direction of ['ingress', 'egress'] as const) {
          for (const peer of peers) {
            for (const c of combos) {
              cells++;
              if (peer.includes(':')) v6cells++;
              const q = {
                from: direction === 'ingress' ? peer : local,
                to: direction === 'ingress' ? local : peer,
                protocol: c.protocol,
                ...(c.port !== undefined ? { port: c.port } : {}),
                direction,
                plane: pl.plane,
              };
              const ours = explain(rs, q).verdict;
              const theirs = calicoVerdict(calico, {
                direction,
                endpoint: `${node.name}-${pl.label}`,
                peer,
                protocol: c.protocol,
                port: c.port,
              });
              if (ours !== theirs)
                wrong.push(
                  `${node.name} ${pl.plane} ${direction} ${peer} proto ${c.protocol} port ${c.port ?? '-'}: artesca-fw ${ours}, Calico ${theirs}`,
                );
            }
          }
        }
      }
  }
  return { cells, v6cells, wrong };
}

const gnp = (items: Item[], name: string) => items.find((i) => i.kind === 'GlobalNetworkPolicy' && i.metadata.name === name)!;
const rules = (items: Item[], name: string, dir: 'ingress' | 'egress') => gnp(items, name).spec[dir] as Record<string, unknown>[];

describe('import calico: the seed policies and variants mean what they meant under Calico', () => {
  it('the seed imports to the built-in policies ("same" for each) and Felix default failsafe ports', async () => {
    const r = await importItems(seedItems());
    expect(r.notes.filter((n) => /^(same|changed|added|missing):/.test(n))).toEqual([
      'same: control-plane-bootstrap',
      'same: control-plane-master',
      'same: control-plane-etcd',
      'same: control-plane-registry',
      'same: control-plane-infra',
      'same: control-plane-general',
      'same: workload-plane',
    ]);
    expect((r.data as { failsafe: unknown }).failsafe).toBe('calico');
  });

  const variants: [string, (items: Item[]) => void, RegExp[]][] = [
    ['the seed as it is', () => {}, []],
    [
      'a customised port (kube-apiserver on 6444)',
      (items) => {
        (rules(items, 'control-plane-master', 'ingress')[0]!.destination as { ports: number[] }).ports = [6444];
      },
      [/^changed: control-plane-master: ingress: 1 rule\(s\) not built in, 1 built-in rule\(s\) absent$/],
    ],
    [
      'a deny rule ahead of an allow (kubelet from node-3 refused)',
      (items) => {
        rules(items, 'control-plane-general', 'ingress').unshift({
          action: 'Deny',
          protocol: 'TCP',
          source: { nets: ['10.100.0.3/32'] },
          destination: { ports: [10250] },
        });
      },
      [/^changed: control-plane-general/],
    ],
    [
      'extra policies ordered between and before the built-in ones; failsafe ports of its own',
      (items) => {
        items.push(
          {
            kind: 'GlobalNetworkPolicy',
            metadata: { name: 'etcd-backup' },
            spec: {
              order: 150,
              selector: "artesca.test/plane == 'control-plane' && has(node-role.kubernetes.io/etcd)",
              ingress: [
                {
                  action: 'Allow',
                  protocol: 'TCP',
                  source: { selector: 'has(node-role.kubernetes.io/infra)' },
                  destination: { ports: ['9990:9999'] },
                },
              ],
            },
          } as Item,
          {
            kind: 'GlobalNetworkPolicy',
            metadata: { name: 'no-s3-from-outsider' },
            spec: {
              order: 50,
              selector: "artesca.test/plane == 'workload-plane'",
              types: ['Ingress'],
              ingress: [{ action: 'Deny', protocol: 'TCP', source: { nets: ['10.200.0.50/32'] }, destination: { ports: [443] } }],
            },
          } as Item,
        );
        for (const i of items)
          if (i.kind === 'GlobalNetworkPolicy' && !('apiVersion' in i)) Object.assign(i, { apiVersion: 'projectcalico.org/v3' });
        gnp(items, 'etcd-backup');
        const felix = items.find((i) => i.kind === 'FelixConfiguration')!;
        felix.spec.failsafeInboundHostPorts = [{ protocol: 'TCP', port: 22, net: '10.100.0.1/32' }];
        felix.spec.failsafeOutboundHostPorts = [];
      },
      [/^added: etcd-backup \(order 150, controlPlane \[etcd\]\)$/, /^added: no-s3-from-outsider \(order 50, workloadPlane\)$/],
    ],
    [
      'a policy on both planes (split in two), peers on both planes',
      (items) => {
        items.push({
          apiVersion: 'projectcalico.org/v3',
          kind: 'GlobalNetworkPolicy',
          metadata: { name: 'masters-7777' },
          spec: {
            order: 300,
            selector: 'has(node-role.kubernetes.io/master)',
            ingress: [
              {
                action: 'Allow',
                protocol: 'UDP',
                source: { selector: 'has(node-role.kubernetes.io/etcd)' },
                destination: { ports: [7777] },
              },
            ],
          },
        } as unknown as Item);
      },
      [/^added: masters-7777-cp /, /^added: masters-7777-wp /],
    ],
  ];

  it.each(variants)('%s: explain and the Calico evaluator agree on every cell', async (_name, change, expected) => {
    const items = seedItems();
    change(items);
    const r = await importItems(items);
    for (const want of expected)
      expect(
        r.notes.some((n) => want.test(n)),
        `${want} in ${r.notes.join('\n')}`,
      ).toBe(true);
    const { cells, wrong } = await disagreements(items);
    expect(cells).toBeGreaterThan(1000);
    expect(wrong).toEqual([]);
  });

  it('IPv6: a dual-stack workload plane, IPv6 nets and peers judged alike by both', async () => {
    const items = seedItems();
    for (const i of items) {
      if (i.kind === 'HostEndpoint' && i.metadata.name.endsWith('workload-plane')) {
        const v4 = (i.spec.expectedIPs as string[])[0]!;
        (i.spec.expectedIPs as string[]).push(`fd00:200::${v4.split('.').at(-1)}`);
      }
    }
    rules(items, 'workload-plane', 'ingress').push(
      { action: 'Allow', protocol: 'TCP', source: { nets: ['fd00:200::50/128'] }, destination: { ports: [8888] } },
      { action: 'Deny', protocol: 'TCP', source: { nets: ['fd00:200::/64'] }, destination: { ports: [8889] } },
    );
    const { v6cells, wrong } = await disagreements(items);
    expect(v6cells).toBeGreaterThan(500);
    expect(wrong).toEqual([]);
    // Both judges tell the IPv6 nets apart: the outsider's fd00:200::50 gets 8888, the nodes do not; 8889 is refused to all.
    const calico = objects(items);
    const judge = (peer: string, port: number) =>
      calicoVerdict(calico, { direction: 'ingress', endpoint: 'node-3-workload-plane', peer, protocol: 6, port });
    expect([judge('fd00:200::50', 8888), judge('fd00:200::1', 8888), judge('fd00:200::50', 8889)]).toEqual([
      'allow',
      'deny',
      'deny',
    ]);
  });

  it('the matrix tells a difference apart: the seed imported, Calico judging the 6444 variant', async () => {
    const changed = seedItems();
    (rules(changed, 'control-plane-master', 'ingress')[0]!.destination as { ports: number[] }).ports = [6444];
    const { wrong } = await disagreements(seedItems(), changed);
    // node-1 and node-2 are masters: Calico now lets 6444 in from the control plane (6443 stays open by Felix's failsafe ports).
    expect(wrong).toContain('node-1 controlPlane ingress 10.100.0.2 proto 6 port 6444: artesca-fw deny, Calico allow');
    expect(wrong.every((w) => / port 6444: artesca-fw deny, Calico allow$/.test(w))).toBe(true);
  });

  it('IPv6 nets carry over as CIDRs', async () => {
    const items = seedItems();
    rules(items, 'workload-plane', 'ingress').push({
      action: 'Allow',
      protocol: 'TCP',
      source: { nets: ['fd00:200::/64', '10.200.0.0/24'] },
      destination: { ports: [8888] },
    });
    const r = await importItems(items);
    const wp = (r.data as { policies: { name: string; ingress: { from?: { cidrs?: string[] } }[] }[] }).policies.find(
      (p) => p.name === 'workload-plane',
    )!;
    expect(wp.ingress.at(-1)!.from).toEqual({ cidrs: ['fd00:200::/64', '10.200.0.0/24'] });
  });
});
