// Every bad input names the right file, line and field, with a useful message.
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSources } from '../../src/agent/sources.js';
import { AfwError, type ErrorCode } from '../../src/errors.js';
import { BASE_CONFIG, BASE_INVENTORY, edit, lineOf, tempDir, writeFiles } from '../helpers/fixtures.js';

interface Case {
  name: string;
  config?: [string, string][] | string;
  inventory?: [string, string][] | string;
  code: ErrorCode;
  file: 'config.yaml' | 'inventory.yaml';
  /** The line holding this text is where the error must point (or a line number). */
  at: string | number;
  field: string;
  message: RegExp;
}

const POLICY = (rule: string) =>
  `policies:\n  - name: extra\n    order: 300\n    appliesTo: { plane: controlPlane }\n    ingress:\n      - ${rule}\n`;

const cases: Case[] = [
  {
    name: 'mode typo',
    config: [['mode: enforce', 'mode: enforced']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'mode: enforced',
    field: 'mode',
    message: /enforce or audit/,
  },
  {
    name: 'denyAction',
    config: [['denyAction: drop', 'denyAction: block']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'denyAction: block',
    field: 'denyAction',
    message: /drop or reject/,
  },
  {
    name: 'logDrops string',
    config: [['logDrops: true', 'logDrops: "yes"']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'logDrops',
    field: 'logDrops',
    message: /true or false/,
  },
  {
    name: 'denied.maxFlows out of range',
    config: [['stateDir: state', 'stateDir: state\ndenied:\n  maxFlows: 0']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'maxFlows: 0',
    field: 'denied.maxFlows',
    message: /whole number from 1 to 1,000,000/,
  },
  {
    name: 'denied.nflogGroup not a number',
    config: [['stateDir: state', 'stateDir: state\ndenied:\n  nflogGroup: "9900a"']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'nflogGroup',
    field: 'denied.nflogGroup',
    message: /whole number from 1 to 65,535/,
  },
  {
    name: 'denied.packetsPerSecond fractional',
    config: [['stateDir: state', 'stateDir: state\ndenied:\n  packetsPerSecond: 2.5']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'packetsPerSecond',
    field: 'denied.packetsPerSecond',
    message: /whole number from 1 to 10,000/,
  },
  {
    name: 'verify.intervalSeconds too short',
    config: [['stateDir: state', 'stateDir: state\nverify:\n  intervalSeconds: 5']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'intervalSeconds: 5',
    field: 'verify.intervalSeconds',
    message: /0 \(the daemon never runs verify\) or 10 to 86,400 seconds/,
  },
  {
    name: 'metrics.listen not an address and port',
    config: [['stateDir: state', 'stateDir: state\nmetrics:\n  listen: "10.100.0.1"']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'listen: "10.100.0.1"',
    field: 'metrics.listen',
    message: /is not ADDRESS:PORT or :PORT/,
  },
  {
    name: 'metrics.listen outside the control plane',
    config: [['stateDir: state', 'stateDir: state\nmetrics:\n  listen: 10.200.0.1:9901']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'listen: 10.200.0.1:9901',
    field: 'metrics.listen',
    message: /10\.200\.0\.1 is not in the controlPlane network \(10\.100\.0\.0\/24\)/,
  },
  {
    name: 'metrics.listen on a port a policy opens',
    config: [['stateDir: state', 'stateDir: state\nmetrics:\n  listen: ":9100"']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'listen: ":9100"',
    field: 'metrics.listen',
    message: /port 9100 is already opened by policy control-plane-general \(node-exporter\)/,
  },
  {
    name: "metrics.listen on the status server's port",
    config: [
      ['listen: 127.0.0.1:9900', 'listen: 0.0.0.0:9900'],
      ['stateDir: state', 'stateDir: state\nmetrics:\n  listen: ":9900"'],
    ],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'listen: ":9900"',
    field: 'metrics.listen',
    message: /port 9900 is the status server's/,
  },
  {
    name: 'metrics.listen on an address of another node',
    config: [['stateDir: state', 'stateDir: state\nmetrics:\n  listen: 10.100.0.2:9901']],
    code: 'AFW_CLUSTER_MISMATCH',
    file: 'config.yaml',
    at: 'listen: 10.100.0.2:9901',
    field: 'metrics.listen',
    message: /10\.100\.0\.2 is not an address of this node "node-1" on the control plane \(10\.100\.0\.1\)/,
  },
  {
    name: 'denied.record typo',
    config: [['stateDir: state', 'stateDir: state\ndenied:\n  recrd: false']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'recrd',
    field: 'denied.recrd',
    message: /unknown field/,
  },
  {
    name: 'icmp value',
    config: [['icmp: essential', 'icmp: some']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'icmp: some',
    field: 'icmp',
    message: /essential, all or none/,
  },
  {
    name: 'unknown top-level field',
    config: [['mode: enforce', 'mode: enforce\nmodee: audit']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'modee',
    field: 'modee',
    message: /unknown field/,
  },
  {
    name: 'unknown nested field',
    config: [['  name: node-1', '  name: node-1\n  rolez: [master]']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'rolez',
    field: 'node.rolez',
    message: /unknown field/,
  },
  {
    name: 'unknown role',
    config: [['roles: [bootstrap, master, etcd', 'roles: [bootstrap, mastr, etcd']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'mastr',
    field: 'node.roles[1]',
    message: /bootstrap, master, etcd, infra, registry/,
  },
  {
    name: 'apiVersion',
    config: [['artesca-fw/v1', 'artesca-fw/v2']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'apiVersion',
    field: 'apiVersion',
    message: /artesca-fw\/v1/,
  },
  {
    name: 'networks missing',
    config: [['networks:\n  controlPlane:\n    cidr: 10.100.0.0/24\n  workloadPlane:\n    cidr: 10.200.0.0/24\n', '']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 1,
    field: 'networks',
    message: /required/,
  },
  {
    name: 'cidr prefix too long',
    config: [['cidr: 10.100.0.0/24', 'cidr: 10.100.0.0/33']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: '10.100.0.0/33',
    field: 'networks.controlPlane.cidr',
    message: /prefix must be 0-32/,
  },
  {
    name: 'cidr host bits',
    config: [['cidr: 10.100.0.0/24', 'cidr: 10.100.0.1/24']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: '10.100.0.1/24',
    field: 'networks.controlPlane.cidr',
    message: /host bits set.*10\.100\.0\.0\/24/,
  },
  {
    name: 'cidr and interface',
    config: [['    cidr: 10.100.0.0/24', '    cidr: 10.100.0.0/24\n    interface: eth0']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'cidr: 10.100.0.0/24',
    field: 'networks.controlPlane',
    message: /exactly one of cidr or interface/,
  },
  {
    name: 'interface name too long',
    config: [['    cidr: 10.200.0.0/24', '    interface: averyveryverylongname0']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'averyvery',
    field: 'networks.workloadPlane.interface',
    message: /not an interface name/,
  },
  {
    name: 'two IPv4 cidrs',
    config: [['cidr: 10.200.0.0/24', 'cidr: [10.200.0.0/24, 10.201.0.0/24]']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: '10.201.0.0/24',
    field: 'networks.workloadPlane.cidr[1]',
    message: /at most one CIDR per address family/,
  },
  {
    name: 'VIP outside plane',
    config: [['management: [10.100.0.100]', 'management: [10.101.0.100]']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: '10.101.0.100',
    field: 'virtualIPs.management[0]',
    message: /outside the controlPlane CIDR/,
  },
  {
    name: 'VIP not an IP',
    config: [['data: [10.200.0.100]', 'data: [10.200.0.1000]']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: '10.200.0.1000',
    field: 'virtualIPs.data[0]',
    message: /not an IP address/,
  },
  {
    name: 'failsafe syntax',
    config: [['inbound: ["udp:68"]', 'inbound: ["udp68"]']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'udp68',
    field: 'failsafe.inbound[0]',
    message: /not a failsafe entry/,
  },
  {
    name: 'failsafe port',
    config: [['inbound: ["udp:68"]', 'inbound: ["tcp:70000"]']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'tcp:70000',
    field: 'failsafe.inbound[0]',
    message: /1-65535/,
  },
  {
    name: 'failsafe unknown preset',
    config: [['failsafe:\n  inbound: ["udp:68"]\n  outbound: []', 'failsafe: calicoo']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'failsafe: calicoo',
    field: 'failsafe',
    message: /unknown preset "calicoo": write calico/,
  },
  {
    name: 'failsafe neither preset nor lists',
    config: [['failsafe:\n  inbound: ["udp:68"]\n  outbound: []', 'failsafe: [tcp:22]']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'failsafe: [tcp:22]',
    field: 'failsafe',
    message: /must be a preset name \(calico\) or \{ inbound/,
  },
  {
    name: 'failsafe cidr',
    config: [['outbound: []', 'outbound: ["tcp:10.0.0.0/40:22"]']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'tcp:10.0.0.0/40:22',
    field: 'failsafe.outbound[0]',
    message: /prefix/,
  },
  {
    name: 'status listen without port',
    config: [['listen: 127.0.0.1:9900', 'listen: localhost']],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'listen: localhost',
    field: 'status.listen',
    message: /ADDRESS:PORT/,
  },
  {
    name: 'port zero',
    config: [['policies: []', POLICY('{ action: allow, protocol: tcp, ports: [0] }')]],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'ports: [0]',
    field: 'policies[0].ingress[0].ports[0]',
    message: /1-65535/,
  },
  {
    name: 'port too big',
    config: [['policies: []', POLICY('{ action: allow, protocol: udp, ports: [65536] }')]],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: '65536',
    field: 'policies[0].ingress[0].ports[0]',
    message: /1-65535/,
  },
  {
    name: 'port range reversed',
    config: [['policies: []', POLICY('{ action: allow, protocol: tcp, ports: [22, "200-100"] }')]],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: '200-100',
    field: 'policies[0].ingress[0].ports[1]',
    message: /low port must be below/,
  },
  {
    name: 'port range garbage',
    config: [['policies: []', POLICY('{ action: allow, protocol: tcp, ports: ["http"] }')]],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'http',
    field: 'policies[0].ingress[0].ports[0]',
    message: /not a port or a range/,
  },
  {
    name: 'ports without tcp/udp',
    config: [['policies: []', POLICY('{ action: allow, protocol: icmp, ports: [8] }')]],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'protocol: icmp',
    field: 'policies[0].ingress[0].ports',
    message: /need protocol tcp or udp/,
  },
  {
    name: 'unknown protocol',
    config: [['policies: []', POLICY('{ action: allow, protocol: tcpp }')]],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'tcpp',
    field: 'policies[0].ingress[0].protocol',
    message: /unknown protocol/,
  },
  {
    name: 'protocol number too big',
    config: [['policies: []', POLICY('{ action: allow, protocol: 256 }')]],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: '256',
    field: 'policies[0].ingress[0].protocol',
    message: /0-255/,
  },
  {
    name: 'peer both cidrs and plane',
    config: [['policies: []', POLICY('{ action: allow, protocol: tcp, from: { plane: controlPlane, cidrs: [10.0.0.0/8] } }')]],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'cidrs: [10.0.0.0/8]',
    field: 'policies[0].ingress[0].from',
    message: /either cidrs, or plane/,
  },
  {
    name: 'peer bad cidr',
    config: [['policies: []', POLICY('{ action: allow, protocol: tcp, from: { cidrs: [10.0.0.0/8, 300.1.1.1] } }')]],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: '300.1.1.1',
    field: 'policies[0].ingress[0].from.cidrs[1]',
    message: /not an IP address|not a CIDR/,
  },
  {
    name: 'rule unknown field',
    config: [['policies: []', POLICY('{ action: allow, protocol: tcp, port: 22 }')]],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'port: 22',
    field: 'policies[0].ingress[0].port',
    message: /unknown field/,
  },
  {
    name: 'egress rule with from',
    config: [
      ['policies: []', `${POLICY('{ action: allow }')}    egress:\n      - { action: allow, from: { plane: controlPlane } }\n`],
    ],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: '{ action: allow, from: { plane',
    field: 'policies[0].egress[0].from',
    message: /unknown field/,
  },
  {
    name: 'rule action',
    config: [['policies: []', POLICY('{ action: accept, protocol: tcp }')]],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'accept',
    field: 'policies[0].ingress[0].action',
    message: /allow, deny or log/,
  },
  {
    name: 'policy name',
    config: [['policies: []', POLICY('{ action: allow }').replace('name: extra', 'name: Bad Name')]],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'Bad Name',
    field: 'policies[0].name',
    message: /lowercase/,
  },
  {
    name: 'policy defined twice',
    config: [
      ['policies: []', `${POLICY('{ action: allow }')}  - name: extra # twice\n    appliesTo: { plane: workloadPlane }\n`],
    ],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'extra # twice',
    field: 'policies[1].name',
    message: /defined twice/,
  },
  {
    name: 'appliesTo empty roles',
    config: [
      ['policies: []', POLICY('{ action: allow }').replace('{ plane: controlPlane }', '{ plane: controlPlane, roles: [] }')],
    ],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'roles: []',
    field: 'policies[0].appliesTo.roles',
    message: /applies to no node/,
  },
  {
    name: 'comment with quote',
    config: [['policies: []', POLICY(`{ action: allow, comment: 'say "hi"' }`)]],
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 'say',
    field: 'policies[0].ingress[0].comment',
    message: /without quotes/,
  },
  {
    name: 'YAML syntax error',
    config: [['roles: [bootstrap, master, etcd, infra, registry]', 'roles: [bootstrap, master']],
    code: 'AFW_YAML_SYNTAX',
    file: 'config.yaml',
    at: 'networks:',
    field: '',
    message: /YAML syntax/,
  },
  {
    name: 'duplicate YAML key',
    config: [['mode: enforce', 'mode: enforce\nmode: audit']],
    code: 'AFW_YAML_SYNTAX',
    file: 'config.yaml',
    at: 'mode: audit',
    field: '',
    message: /unique/,
  },
  { name: 'empty config', config: '', code: 'AFW_CONFIG_INVALID', file: 'config.yaml', at: 1, field: '', message: /empty/ },
  {
    name: 'config is a list',
    config: '- a\n- b\n',
    code: 'AFW_CONFIG_INVALID',
    file: 'config.yaml',
    at: 1,
    field: '',
    message: /expected a mapping/,
  },
  {
    name: 'node name not in inventory',
    config: [['name: node-1', 'name: node-9']],
    code: 'AFW_CLUSTER_MISMATCH',
    file: 'config.yaml',
    at: 'node-9',
    field: 'node.name',
    message: /not in the inventory/,
  },
  // inventory
  {
    name: 'duplicate node name',
    inventory: [['name: node-2', 'name: node-1']],
    code: 'AFW_INVENTORY_INVALID',
    file: 'inventory.yaml',
    at: 7,
    field: 'nodes[1].name',
    message: /used twice/,
  },
  {
    name: 'duplicate plane IP',
    inventory: [['controlPlaneIP: 10.100.0.3', 'controlPlaneIP: 10.100.0.2']],
    code: 'AFW_INVENTORY_INVALID',
    file: 'inventory.yaml',
    at: 13,
    field: 'nodes[2].controlPlaneIP',
    message: /already the controlPlane address of nodes\[1\]/,
  },
  {
    name: 'invalid node IP',
    inventory: [['workloadPlaneIP: 10.200.0.1', 'workloadPlaneIP: 10.200.0.300']],
    code: 'AFW_INVENTORY_INVALID',
    file: 'inventory.yaml',
    at: '10.200.0.300',
    field: 'nodes[0].workloadPlaneIP',
    message: /not an IP address/,
  },
  {
    name: 'node IP outside CIDR',
    inventory: [['controlPlaneIP: 10.100.0.2', 'controlPlaneIP: 10.101.0.2']],
    code: 'AFW_CLUSTER_MISMATCH',
    file: 'inventory.yaml',
    at: '10.101.0.2',
    field: 'nodes[1].controlPlaneIP',
    message: /outside the controlPlane CIDR/,
  },
  {
    name: 'IPv6 address without IPv6 CIDR',
    inventory: [['workloadPlaneIP: 10.200.0.3', 'workloadPlaneIP: [10.200.0.3, "fd00:200::3"]']],
    code: 'AFW_CLUSTER_MISMATCH',
    file: 'inventory.yaml',
    at: 'fd00:200::3',
    field: 'nodes[2].workloadPlaneIP[1]',
    message: /no IPv6 workloadPlane CIDR/,
  },
  {
    name: 'local roles differ',
    inventory: [['roles: [bootstrap, master, etcd, infra, registry]', 'roles: [bootstrap, master]']],
    code: 'AFW_CLUSTER_MISMATCH',
    file: 'inventory.yaml',
    at: 'roles: [bootstrap, master]',
    field: 'nodes[0].roles',
    message: /differ from node.roles/,
  },
  {
    name: 'unknown role in inventory',
    inventory: [['roles: []', 'roles: [worker]']],
    code: 'AFW_INVENTORY_INVALID',
    file: 'inventory.yaml',
    at: 'worker',
    field: 'nodes[2].roles[0]',
    message: /one of: bootstrap/,
  },
  {
    name: 'unknown inventory field',
    inventory: [['    controlPlaneIP: 10.100.0.1', '    controlPlaneIP: 10.100.0.1\n    ip: 10.0.0.1']],
    code: 'AFW_INVENTORY_INVALID',
    file: 'inventory.yaml',
    at: 'ip: 10.0.0.1',
    field: 'nodes[0].ip',
    message: /unknown field/,
  },
  {
    name: 'missing plane IP',
    inventory: [['    workloadPlaneIP: 10.200.0.2\n', '']],
    code: 'AFW_INVENTORY_INVALID',
    file: 'inventory.yaml',
    at: 7,
    field: 'nodes[1].workloadPlaneIP',
    message: /required/,
  },
  {
    name: 'empty inventory',
    inventory: '   \n',
    code: 'AFW_INVENTORY_INVALID',
    file: 'inventory.yaml',
    at: 1,
    field: '',
    message: /empty/,
  },
  {
    name: 'no nodes',
    inventory: 'apiVersion: artesca-fw/v1\nnodes: []\n',
    code: 'AFW_INVENTORY_INVALID',
    file: 'inventory.yaml',
    at: 2,
    field: 'nodes',
    message: /no nodes/,
  },
  {
    name: 'inventory apiVersion',
    inventory: [['apiVersion: artesca-fw/v1', 'apiVersion: v1']],
    code: 'AFW_INVENTORY_INVALID',
    file: 'inventory.yaml',
    at: 1,
    field: 'apiVersion',
    message: /artesca-fw\/v1/,
  },
  {
    name: 'inventory YAML syntax',
    inventory: [['  - name: node-3', '  - name: node-3\n   bad indent: [']],
    code: 'AFW_YAML_SYNTAX',
    file: 'inventory.yaml',
    at: 'bad indent',
    field: '',
    message: /YAML syntax/,
  },
];

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function textOf(base: string, spec: [string, string][] | string | undefined): string {
  if (spec === undefined) return base;
  return typeof spec === 'string' ? spec : edit(base, spec);
}

describe('config and inventory errors', () => {
  it('has at least 30 distinct cases', () => {
    expect(new Set(cases.map((c) => c.name)).size).toBeGreaterThanOrEqual(30);
  });

  it('accepts the unmodified fixtures', async () => {
    const dir = path.join(tmp.dir, 'ok');
    (await import('node:fs')).mkdirSync(dir);
    const s = await loadSources(writeFiles(dir, BASE_CONFIG, BASE_INVENTORY));
    expect(s.inventory.nodes).toHaveLength(3);
    expect(s.config.stateDir).toBe(path.join(dir, 'state'));
  });

  cases.forEach((c, i) => {
    it(`${c.name}: ${c.file} line/field ${c.field || '(document)'}`, async () => {
      const dir = path.join(tmp.dir, `case-${i}`);
      (await import('node:fs')).mkdirSync(dir);
      const cfgText = textOf(BASE_CONFIG, c.config);
      const invText = textOf(BASE_INVENTORY, c.inventory);
      const cfgFile = writeFiles(dir, cfgText, invText);
      const err = await loadSources(cfgFile).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AfwError);
      const e = err as AfwError;
      expect(e.code).toBe(c.code);
      const target = path.join(dir, c.file);
      const text = c.file === 'config.yaml' ? cfgText : invText;
      const line = typeof c.at === 'number' ? c.at : lineOf(text, c.at);
      const lines = e.lines();
      const match = lines.find(
        (l) => l.startsWith(`${target}:${line}:`) && l.includes(c.field ? `: ${c.field}: ` : ': ') && c.message.test(l),
      );
      expect(match, `expected ${target}:${line}: ${c.field}: ${c.message} in:\n${lines.join('\n')}`).toBeDefined();
      expect(match).toMatch(/^\S+:\d+:\d+: /);
    });
  });

  it("failsafe: calico is the list of Felix's default failsafe ports, both ways", async () => {
    const dir = path.join(tmp.dir, 'calico');
    (await import('node:fs')).mkdirSync(dir);
    const cfg = edit(BASE_CONFIG, [['failsafe:\n  inbound: ["udp:68"]\n  outbound: []', 'failsafe: calico']]);
    const s = await loadSources(writeFiles(dir, cfg, BASE_INVENTORY));
    const texts = (d: 'inbound' | 'outbound') => s.config.failsafe[d].map((e) => e.text);
    expect(texts('inbound')).toEqual([
      'tcp:22',
      'udp:68',
      'tcp:179',
      'tcp:2379',
      'tcp:2380',
      'tcp:5473',
      'tcp:6443',
      'tcp:6666',
      'tcp:6667',
    ]);
    expect(texts('outbound')).toEqual([
      'udp:53',
      'udp:67',
      'tcp:179',
      'tcp:2379',
      'tcp:2380',
      'tcp:5473',
      'tcp:6443',
      'tcp:6666',
      'tcp:6667',
    ]);
    expect(s.config.failsafe.inbound[0]).toMatchObject({ protocol: 'tcp', ports: { from: 22, to: 22 } });
    expect(s.config.failsafe.inbound.every((e) => e.cidr === undefined)).toBe(true); // from anywhere, as Felix
  });

  it('names a missing inventory file', async () => {
    const dir = path.join(tmp.dir, 'missing');
    (await import('node:fs')).mkdirSync(dir);
    const cfg = writeFiles(dir, edit(BASE_CONFIG, [['file: inventory.yaml', 'file: nowhere.yaml']]), BASE_INVENTORY);
    await expect(loadSources(cfg)).rejects.toMatchObject({
      code: 'AFW_FILE_READ',
      message: expect.stringContaining('nowhere.yaml'),
    });
  });
});
