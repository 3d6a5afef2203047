// `artesca-fw import calico` refuses what it cannot express exactly, naming
// the file, line and field, and writes nothing.
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli.js';
import { AfwError } from '../../src/errors.js';
import { importCalicoCommand } from '../../src/import/import-command.js';
import { BASE_CONFIG, BASE_INVENTORY, lineOf, tempDir } from '../helpers/fixtures.js';

const tmp = tempDir('afw-refuse-');
afterAll(() => tmp.cleanup());
const configFile = path.join(tmp.dir, 'config.yaml');
writeFileSync(configFile, BASE_CONFIG);
writeFileSync(path.join(tmp.dir, 'inventory.yaml'), BASE_INVENTORY);

/** The host endpoints of two nodes, as calicoctl writes them (several documents, v3). */
const HEPS = ['node-1', 'node-2']
  .flatMap((n, i) => [
    `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata:
  name: ${n}-cp
  labels: { artesca.test/plane: control-plane, kubernetes.io/hostname: ${n}, node-role.kubernetes.io/${i ? 'etcd' : 'master'}: "" }
spec: { node: ${n}, interfaceName: eth0, expectedIPs: [10.100.0.${i + 1}] }
`,
  ])
  .join('---\n');

const policy = (spec: string, name = 'p') => `---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: ${name}
spec:
${spec}`;
const SEL = "  selector: artesca.test/plane == 'control-plane'\n";

interface Case {
  name: string;
  text: string;
  /** The line holding this text is where the error must point. */
  at: string;
  field: string;
  message: RegExp;
}

const cases: Case[] = [
  {
    name: 'named port',
    text: policy(`${SEL}  ingress:\n    - action: Allow\n      protocol: TCP\n      destination:\n        ports: [http-alt]\n`),
    at: 'ports: [http-alt]',
    field: 'spec.ingress[0].destination.ports[0]',
    message: /named port has no artesca-fw equivalent/,
  },
  {
    name: 'Log',
    text: policy(`${SEL}  ingress:\n    - action: Log\n`),
    at: 'action: Log',
    field: 'spec.ingress[0].action',
    message: /Log has no artesca-fw equivalent/,
  },
  {
    name: 'Pass',
    text: policy(`${SEL}  egress:\n    - action: Pass\n`),
    at: 'action: Pass',
    field: 'spec.egress[0].action',
    message: /Pass has no artesca-fw equivalent/,
  },
  {
    name: 'notPorts',
    text: policy(`${SEL}  ingress:\n    - action: Allow\n      protocol: TCP\n      destination:\n        notPorts: [22]\n`),
    at: 'notPorts',
    field: 'spec.ingress[0].destination.notPorts',
    message: /negated match/,
  },
  {
    name: 'notNets',
    text: policy(`${SEL}  ingress:\n    - action: Allow\n      source:\n        notNets: [10.0.0.0/8]\n`),
    at: 'notNets',
    field: 'spec.ingress[0].source.notNets',
    message: /negated match/,
  },
  {
    name: 'namespace selector in a rule',
    text: policy(`${SEL}  ingress:\n    - action: Allow\n      source:\n        namespaceSelector: all()\n`),
    at: 'namespaceSelector: all()',
    field: 'spec.ingress[0].source.namespaceSelector',
    message: /about pods/,
  },
  {
    name: 'service accounts',
    text: policy(`${SEL}  ingress:\n    - action: Allow\n      source:\n        serviceAccounts: { names: [api] }\n`),
    at: 'serviceAccounts',
    field: 'spec.ingress[0].source.serviceAccounts',
    message: /about pods/,
  },
  {
    name: 'HTTP match',
    text: policy(`${SEL}  ingress:\n    - action: Allow\n      http: { methods: [GET] }\n`),
    at: 'http:',
    field: 'spec.ingress[0].http',
    message: /http has no artesca-fw equivalent/,
  },
  {
    name: 'doNotTrack',
    text: policy(`${SEL}  doNotTrack: true\n`),
    at: 'doNotTrack',
    field: 'spec.doNotTrack',
    message: /connection tracking/,
  },
  {
    name: 'preDNAT',
    text: policy(`${SEL}  preDNAT: true\n  applyOnForward: true\n`),
    at: 'preDNAT',
    field: 'spec.preDNAT',
    message: /before DNAT/,
  },
  {
    name: 'a tier',
    text: policy(`${SEL}  tier: security\n`),
    at: 'tier: security',
    field: 'spec.tier',
    message: /only the default tier/,
  },
  {
    name: 'a selector by host name',
    text: policy("  selector: kubernetes.io/hostname == 'node-1'\n"),
    at: 'kubernetes.io/hostname ==',
    field: 'spec.selector',
    message: /differs between the HostEndpoints of a plane/,
  },
  {
    name: 'two roles at once',
    text: policy('  selector: has(node-role.kubernetes.io/master) && has(node-role.kubernetes.io/etcd)\n'),
    at: '  selector: has(node-role',
    field: 'spec.selector',
    message: /combination of roles artesca-fw cannot hold/,
  },
  {
    name: 'nodes without a role',
    text: policy(
      `${SEL}  ingress:\n    - action: Allow\n      source:\n        selector: "!has(node-role.kubernetes.io/master)"\n`,
    ),
    at: 'selector: "!has',
    field: 'spec.ingress[0].source.selector',
    message: /picks peers by a combination of roles/,
  },
  {
    name: 'a role label that is not an ARTESCA role',
    text: policy('  selector: has(node-role.kubernetes.io/control-plane)\n'),
    at: 'control-plane)',
    field: 'spec.selector',
    message: /control-plane is not an ARTESCA role/,
  },
  {
    name: 'selector syntax',
    text: policy('  selector: has(node-role.kubernetes.io/master\n'),
    at: '  selector: has(',
    field: 'spec.selector',
    message: /not a Calico selector: no closing/,
  },
  {
    name: 'a fractional order',
    text: policy(`  order: 100.5\n${SEL}`),
    at: 'order: 100.5',
    field: 'spec.order',
    message: /whole numbers from 0/,
  },
  {
    name: 'ICMP type match',
    text: policy(`${SEL}  ingress:\n    - action: Allow\n      protocol: ICMP\n      icmp: { type: 8 }\n`),
    at: 'icmp: { type: 8 }',
    field: 'spec.ingress[0].icmp',
    message: /icmp has no artesca-fw equivalent/,
  },
  {
    name: 'nets and a selector together',
    text: policy(
      `${SEL}  ingress:\n    - action: Allow\n      source:\n        nets: [10.100.0.0/24]\n        selector: all()\n`,
    ),
    at: 'nets: [10.100.0.0/24]', // a mapping's position is that of its first field
    field: 'spec.ingress[0].source',
    message: /nets and selector together/,
  },
  {
    name: 'source ports',
    text: policy(`${SEL}  ingress:\n    - action: Allow\n      protocol: UDP\n      source:\n        ports: [53]\n`),
    at: 'ports: [53]',
    field: 'spec.ingress[0].source.ports',
    message: /source ports/,
  },
  {
    name: "an egress rule on this host's own addresses",
    text: policy(`${SEL}  egress:\n    - action: Allow\n      source:\n        nets: [10.100.0.1/32]\n`),
    at: 'nets: [10.100.0.1/32]',
    field: 'spec.egress[0].source.nets',
    message: /this host's side/,
  },
  {
    name: 'a namespaced NetworkPolicy',
    text: `---\napiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: { name: np, namespace: default }\nspec: {}\n`,
    at: 'kind: NetworkPolicy',
    field: 'kind',
    message: /polices pods, not hosts/,
  },
  {
    name: 'a host endpoint on every interface',
    text: `---\napiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata: { name: all-ifaces }\nspec:\n  node: node-3\n  interfaceName: "*"\n`,
    at: 'interfaceName: "*"',
    field: 'spec.interfaceName',
    message: /every interface of the host/,
  },
  {
    name: 'a host endpoint in neither plane',
    text: `---\napiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata: { name: mgmt }\nspec:\n  node: node-3\n  expectedIPs: [192.168.7.3]\n`,
    at: '  node: node-3',
    field: 'spec',
    message: /match neither networks.controlPlane nor networks.workloadPlane/,
  },
  {
    name: 'a field Calico added that we do not know',
    text: policy(`${SEL}  performanceHints: [AssumeNeededOnEveryNode]\n  egressGateway: x\n`),
    at: 'egressGateway',
    field: 'spec.egressGateway',
    message: /no artesca-fw equivalent: refused, not dropped/,
  },
];

describe('import calico refuses what it cannot express exactly', () => {
  it('has at least 15 cases', () => expect(cases.length).toBeGreaterThanOrEqual(15));

  it.each(cases)('$name: file, line and field; nothing written', async (c) => {
    const text = `${HEPS}${c.text}`;
    const file = path.join(tmp.dir, `${c.name.replace(/\W+/g, '-')}.yaml`);
    const out = path.join(tmp.dir, `${c.name.replace(/\W+/g, '-')}.out.yaml`);
    writeFileSync(file, text);
    const err = await importCalicoCommand([file], configFile, { output: out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AfwError);
    const e = err as AfwError;
    expect(e.code).toBe('AFW_IMPORT_REFUSED');
    const p = e.problems.find((x) => c.message.test(x.message));
    expect(p, e.lines().join('\n')).toBeDefined();
    expect(p!.where).toMatchObject({ file, line: lineOf(text, c.at), field: c.field });
    expect(existsSync(out)).toBe(false);
  });

  it('invalid YAML is refused at its line', async () => {
    const text = `${HEPS}---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: { name: x\nspec: {}\n`;
    const file = path.join(tmp.dir, 'bad.yaml');
    writeFileSync(file, text);
    const e = (await importCalicoCommand([file], configFile, {}).catch((x: unknown) => x)) as AfwError;
    expect(e.code).toBe('AFW_IMPORT_REFUSED');
    expect(e.problems[0]!.message).toMatch(/not valid YAML/);
    expect(e.problems[0]!.where!.line).toBeGreaterThanOrEqual(lineOf(text, 'metadata: { name: x'));
  });

  it('the command exits 1, prints FILE:LINE:COL: field: problem on stderr, and writes no output file', async () => {
    const c = cases[0]!;
    const text = `${HEPS}${c.text}`;
    const file = path.join(tmp.dir, 'cli.yaml');
    const out = path.join(tmp.dir, 'cli.out.yaml');
    writeFileSync(file, text);
    // The command line itself, in this process (the unit tests run before the build: no bin/ to start).
    const written: string[] = [];
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    const before = process.exitCode;
    try {
      await main(['node', 'artesca-fw', 'import', 'calico', file, '--config', configFile, '--output', out]);
      expect(process.exitCode).toBe(1);
    } finally {
      stderr.mockRestore();
      process.exitCode = before;
    }
    const text2 = written.join('');
    expect(text2).toContain(`${file}:${lineOf(text, c.at)}:`);
    expect(text2).toContain(`: ${c.field}: `);
    expect(text2).toMatch(/AFW_IMPORT_REFUSED/);
    expect(existsSync(out)).toBe(false);
  });
});
