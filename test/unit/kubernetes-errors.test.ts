// Bad inventory.kubernetes sections and bad kubeconfigs: each refused with the
// file, line, column and field, and a message that says what to do.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/validate-config.js';
import { AfwError, type ErrorCode } from '../../src/errors.js';
import { loadCredentials } from '../../src/membership/credentials.js';
import { BASE_CONFIG, edit, lineOf, tempDir } from '../helpers/fixtures.js';
import { kubeconfigText, makePki, type Pki } from '../helpers/test-pki.js';

const tmp = tempDir('afw-kerr-');
let pki: Pki;
beforeAll(() => {
  pki = makePki(tmp.dir);
});
afterAll(() => tmp.cleanup());

function configWith(section: string, base = BASE_CONFIG): string {
  return edit(base, [['  file: inventory.yaml\n', `  file: inventory.yaml\n  kubernetes:\n${section}`]]);
}

function refusal(fn: () => unknown): AfwError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AfwError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

async function refusalAsync(fn: () => Promise<unknown>): Promise<AfwError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof AfwError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

interface ConfigCase {
  name: string;
  text: () => string;
  at: string;
  field: string;
  message: RegExp;
}

const CONFIG_CASES: ConfigCase[] = [
  {
    name: 'kubeconfig missing',
    text: () => configWith('    roleLabelPrefix: node-role.kubernetes.io/\n'),
    // A missing field is reported where its mapping starts.
    at: 'roleLabelPrefix',
    field: 'inventory.kubernetes.kubeconfig',
    message: /kubeconfig/,
  },
  {
    name: 'a typo in a field name',
    text: () => configWith('    kubeconfig: /k\n    maxshrink: 0.3\n'),
    at: 'maxshrink',
    field: 'inventory.kubernetes.maxshrink',
    message: /unknown field/,
  },
  {
    name: 'addressType that carries no IP',
    text: () => configWith('    kubeconfig: /k\n    controlPlaneIP: { addressType: Hostname }\n'),
    at: 'addressType: Hostname',
    field: 'inventory.kubernetes.controlPlaneIP.addressType',
    message: /InternalIP or ExternalIP/,
  },
  {
    name: 'two sources for one plane IP',
    text: () => configWith('    kubeconfig: /k\n    workloadPlaneIP: { addressType: InternalIP, annotation: a.b/c }\n'),
    at: 'workloadPlaneIP:',
    field: 'inventory.kubernetes.workloadPlaneIP',
    message: /exactly one of addressType, annotation or cidr/,
  },
  {
    name: 'annotation key with a space',
    text: () => configWith('    kubeconfig: /k\n    workloadPlaneIP: { annotation: "my annotation" }\n'),
    at: 'my annotation',
    field: 'inventory.kubernetes.workloadPlaneIP.annotation',
    message: /not an annotation key/,
  },
  {
    name: 'cidr: fromPlane on a plane given by its interface',
    text: () =>
      configWith(
        '    kubeconfig: /k\n    controlPlaneIP: { cidr: fromPlane }\n',
        edit(BASE_CONFIG, [['cidr: 10.100.0.0/24', 'interface: eth0']]),
      ),
    at: 'cidr: fromPlane',
    field: 'inventory.kubernetes.controlPlaneIP.cidr',
    message: /fromPlane needs networks.controlPlane.cidr/,
  },
  {
    name: 'cidr other than fromPlane',
    text: () => configWith('    kubeconfig: /k\n    controlPlaneIP: { cidr: 10.0.0.0/8 }\n'),
    at: 'cidr: 10.0.0.0/8',
    field: 'inventory.kubernetes.controlPlaneIP.cidr',
    message: /fromPlane/,
  },
  {
    name: 'maxShrink above 1',
    text: () => configWith('    kubeconfig: /k\n    maxShrink: 2\n'),
    at: 'maxShrink: 2',
    field: 'inventory.kubernetes.maxShrink',
    message: /from 0 to 1/,
  },
  {
    name: 'watchTimeoutSeconds too short',
    text: () => configWith('    kubeconfig: /k\n    watchTimeoutSeconds: 1\n'),
    at: 'watchTimeoutSeconds: 1',
    field: 'inventory.kubernetes.watchTimeoutSeconds',
    message: /5 to 3600/,
  },
  {
    name: 'roleLabelPrefix that makes no label key',
    text: () => configWith('    kubeconfig: /k\n    roleLabelPrefix: "bad prefix/"\n'),
    at: 'bad prefix',
    field: 'inventory.kubernetes.roleLabelPrefix',
    message: /not a label key/,
  },
  {
    name: 'node.roles left out without inventory.kubernetes',
    text: () => edit(BASE_CONFIG, [['  roles: [bootstrap, master, etcd, infra, registry]\n', '']]),
    at: 'name: node-1',
    field: 'node',
    message: /roles is required .*inventory.kubernetes/,
  },
];

describe('inventory.kubernetes in config.yaml', () => {
  for (const c of CONFIG_CASES) {
    it(c.name, () => {
      const text = c.text();
      const e = refusal(() => parseConfig(text, '/etc/artesca-fw/config.yaml', { hostname: 'node-1' }));
      expect(e.code).toBe('AFW_CONFIG_INVALID');
      const line = e.lines().find((l) => l.includes(c.field));
      expect(line, e.lines().join('\n')).toBeDefined();
      expect(line).toMatch(
        new RegExp(`^/etc/artesca-fw/config\\.yaml:${lineOf(text, c.at)}:\\d+: ${c.field.replace(/[.[\]]/g, '\\$&')}: `),
      );
      expect(line).toMatch(c.message);
    });
  }

  it('node.roles may be left out with inventory.kubernetes; the defaults are the MetalK8s mapping', () => {
    const text = configWith(
      '    kubeconfig: kubeconfig\n',
      edit(BASE_CONFIG, [['  roles: [bootstrap, master, etcd, infra, registry]\n', '']]),
    );
    const { config } = parseConfig(text, '/etc/artesca-fw/config.yaml', { hostname: 'node-1' });
    expect(config.node.rolesFromInventory).toBe(true);
    expect(config.kubernetes).toEqual({
      kubeconfig: '/etc/artesca-fw/kubeconfig',
      roleLabelPrefix: 'node-role.kubernetes.io/',
      ip: {
        controlPlane: { kind: 'addressType', type: 'InternalIP' },
        workloadPlane: { kind: 'annotation', key: 'projectcalico.org/IPv4Address' },
      },
      maxShrink: 0.5,
      watchTimeoutSeconds: 300,
    });
  });
});

interface KubeconfigCase {
  name: string;
  text: () => string;
  code?: ErrorCode;
  /** Text on the line the error must point at (or its number); undefined: the error names a file instead. */
  at?: string | number;
  message: RegExp;
}

const SERVER = 'https://127.0.0.1:7443';
const KUBECONFIG_CASES: KubeconfigCase[] = [
  {
    name: 'insecure-skip-tls-verify',
    text: () => kubeconfigText({ server: SERVER, token: 't', extraCluster: '    insecure-skip-tls-verify: true' }),
    at: 'insecure-skip-tls-verify',
    message: /refused: the agent always verifies/,
  },
  {
    name: 'plain http',
    text: () => kubeconfigText({ server: 'http://127.0.0.1:8080', caFile: pki.caFile, token: 't' }),
    at: 'server:',
    message: /not https/,
  },
  {
    name: 'not a URL',
    text: () => kubeconfigText({ server: '127.0.0.1:7443:x', caFile: pki.caFile, token: 't' }),
    at: 'server:',
    message: /URL|https/,
  },
  {
    name: 'no CA',
    text: () => kubeconfigText({ server: SERVER, token: 't' }),
    at: 'server:',
    message: /no certificate-authority/,
  },
  {
    name: 'current-context names nothing',
    text: () =>
      kubeconfigText({ server: SERVER, caFile: pki.caFile, token: 't' }).replace(
        'current-context: artesca-fw@test',
        'current-context: prod',
      ),
    at: 'current-context',
    message: /"prod" is not among the contexts/,
  },
  {
    name: 'context names a missing user',
    text: () =>
      kubeconfigText({ server: SERVER, caFile: pki.caFile, token: 't' }).replace('    user: artesca-fw\n', '    user: admin\n'),
    at: 'user: admin',
    message: /no user named "admin"/,
  },
  {
    name: 'no credentials',
    text: () => kubeconfigText({ server: SERVER, caFile: pki.caFile }),
    at: '{}',
    message: /no credentials/,
  },
  {
    name: 'exec plugin',
    text: () => kubeconfigText({ server: SERVER, caFile: pki.caFile, extraUser: '    exec: { command: aws }' }),
    at: 'exec:',
    message: /not supported/,
  },
  {
    name: 'client certificate without its key',
    text: () => kubeconfigText({ server: SERVER, caFile: pki.caFile, certFile: pki.clientCertFile }),
    at: 'client-certificate:',
    message: /without its client-key/,
  },
  {
    name: 'token and tokenFile both',
    text: () => kubeconfigText({ server: SERVER, caFile: pki.caFile, token: 't', tokenFile: '/x' }),
    at: 'tokenFile',
    message: /token or tokenFile, not both/,
  },
  {
    name: 'certificate-authority-data that is not base64 PEM',
    text: () => kubeconfigText({ server: SERVER, token: 't', extraCluster: '    certificate-authority-data: bm90IGEgY2VydA==' }),
    at: 'certificate-authority-data',
    message: /does not decode to PEM/,
  },
  {
    name: 'proxy-url',
    text: () =>
      kubeconfigText({ server: SERVER, caFile: pki.caFile, token: 't', extraCluster: '    proxy-url: http://proxy:3128' }),
    at: 'proxy-url',
    message: /not supported/,
  },
  { name: 'YAML syntax', text: () => 'clusters: [\n', code: 'AFW_YAML_SYNTAX', at: 2, message: /YAML syntax/ },
  {
    name: 'clusters not a list',
    text: () => 'current-context: a\nclusters: 3\ncontexts: []\n',
    at: 'clusters: 3',
    message: /list of clusters/,
  },
  {
    name: 'CA file missing',
    text: () => kubeconfigText({ server: SERVER, caFile: '/nonexistent/ca.crt', token: 't' }),
    message: /certificate-authority \/nonexistent\/ca.crt: no such file/,
  },
  {
    name: 'token file missing',
    text: () => kubeconfigText({ server: SERVER, caFile: pki.caFile, tokenFile: 'gone-token' }),
    message: /tokenFile .*gone-token: no such file/,
  },
];

describe('kubeconfig', () => {
  for (const c of KUBECONFIG_CASES) {
    it(c.name, async () => {
      const file = path.join(tmp.dir, `${c.name.replace(/\W+/g, '-')}.kubeconfig`);
      const text = c.text();
      writeFileSync(file, text);
      const e = await refusalAsync(() => loadCredentials(file));
      expect(e.code).toBe(c.code ?? 'AFW_KUBECONFIG_INVALID');
      const lines = e.lines();
      const line = lines.find((l) => c.message.test(l));
      expect(line, lines.join('\n')).toBeDefined();
      const lineNo = typeof c.at === 'number' ? c.at : c.at && lineOf(text, c.at);
      if (lineNo) expect(line!.startsWith(`${file}:${lineNo}:`), line).toBe(true);
      else expect(line!.startsWith(file), line).toBe(true);
    });
  }

  it('a good one: CA and client certificate from files relative to the kubeconfig, the token file read at each request', async () => {
    const tokenFile = path.join(tmp.dir, 'token');
    writeFileSync(tokenFile, 'first\n');
    const file = path.join(tmp.dir, 'good.kubeconfig');
    writeFileSync(file, kubeconfigText({ server: `${SERVER}/`, caFile: 'ca.crt', tokenFile: 'token' }));
    const creds = await loadCredentials(file);
    expect(creds.server).toBe(SERVER);
    expect(creds.ca).toBe(pki.ca);
    expect(creds.token()).toBe('first');
    writeFileSync(tokenFile, 'rotated\n');
    expect(creds.token()).toBe('rotated');
  });
});
