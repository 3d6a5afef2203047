// Membership from Kubernetes on a running cluster: the agent in every node of
// a namespace cluster follows the Node objects of the test API server (real
// TLS; reached by every node through the outsider's namespace at
// 10.100.0.250:6443), and the rules follow them: joins, label and annotation
// changes, deletions, a 410, a stalled watch, the API server gone and back, a
// restart without it, the two guards, a Node left out, and bad kubeconfigs and
// inventory.kubernetes sections that change nothing live.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, type ClusterNode } from '../../scripts/lab/cluster.js';
import { until } from '../../scripts/lab/daemon.js';
import { requireKernelTests } from '../../scripts/lab/netns.js';
import { silentDeadlineMs } from '../../src/membership/node-informer.js';
import { FakeApiServer, type NodeSpec } from '../helpers/fake-apiserver.js';
import { tempDir } from '../helpers/fixtures.js';
import { kubeconfigText, makePki, type Pki } from '../helpers/test-pki.js';

requireKernelTests();

const API_IP = '10.100.0.250';
const API_PORT = 6443;
const SERVER = `https://${API_IP}:${API_PORT}`;
const WATCH_TIMEOUT = 5;

const NODES: ClusterNode[] = [
  { name: 'node-1', roles: ['bootstrap', 'master', 'etcd', 'infra', 'registry'], cp: '10.100.0.1', wp: '10.200.0.1' },
  { name: 'node-2', roles: ['master', 'etcd', 'infra'], cp: '10.100.0.2', wp: '10.200.0.2' },
  { name: 'node-3', roles: ['etcd'], cp: '10.100.0.3', wp: '10.200.0.3' },
];
const NODE4: ClusterNode = { name: 'node-4', roles: [], cp: '10.100.0.4', wp: '10.200.0.4' };
const spec = (n: ClusterNode, extra: Partial<NodeSpec> = {}): NodeSpec => ({
  name: n.name,
  roles: n.roles,
  cp: n.cp,
  wp: n.wp,
  ...extra,
});

interface K8sStatus {
  server: string;
  synced: boolean;
  stale: boolean;
  lists: number;
  watches: number;
  relists: number;
  resourceVersion: string;
  leftOut: { node: string; field: string; reason: string }[];
  refused: { reason: string } | null;
  lastError: { message: string } | null;
}

describe('membership from Kubernetes Node objects', () => {
  const tmp = tempDir('afw-k8s-');
  let pki: Pki;
  let api: FakeApiServer;
  let c: Cluster;
  const socketPath = path.join(tmp.dir, 'apiserver.sock');

  const status = async (node = 'node-1') => {
    const r = await c.peers[node]!.http('http://127.0.0.1:9900/status');
    return JSON.parse(r.body) as {
      inventory: { source: string; nodes: number; kubernetes: K8sStatus };
      ruleset: { hash: string };
    };
  };
  const k8s = async (node = 'node-1') => (await status(node)).inventory.kubernetes;
  /** The live ruleset of a node, as iptables-save and ipset print it (no counters). */
  const live = async (node = 'node-1') =>
    (await c.lab.must(c.ns[node]!, 'iptables-save', [])).replace(/^#.*$/gm, '') +
    (await c.lab.must(c.ns[node]!, 'ipset', ['list']));
  const probe = async (from: string, host: string, port: number) => (await c.peers[from]!.probe(host, port)).state;
  const serve = async () => {
    await api.start({ path: socketPath });
    await c.peers.outsider!.forward(API_PORT, socketPath);
  };
  const halt = async () => {
    await c.peers.outsider!.unforward(API_PORT);
    await api.stop();
  };

  beforeAll(async () => {
    pki = makePki(tmp.dir, [API_IP]);
    api = new FakeApiServer({ ca: pki.ca, cert: pki.serverCert, key: pki.serverKey });
    api.tokens.add('node-token-1');
    api.bookmarkMs = 1000;
    for (const n of NODES) api.put(spec(n));
    await api.start({ path: socketPath });
    c = await Cluster.start({
      nodes: NODES,
      outsider: { cp: API_IP, wp: '10.200.0.250' },
      tag: 'k',
      configure: (n, config, dir) => {
        const kubeconfig = path.join(dir, `${n.name}.kubeconfig`);
        mkdirSync(dir, { recursive: true });
        // node-1 and node-2 with a token, node-3 with a client certificate.
        writeFileSync(
          kubeconfig,
          n.name === 'node-3'
            ? kubeconfigText({ server: SERVER, caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile })
            : kubeconfigText({ server: SERVER, caFile: pki.caFile, token: 'node-token-1' }),
        );
        config.inventory = {
          file: path.join(dir, n.name, 'inventory.yaml'),
          kubernetes: { kubeconfig, watchTimeoutSeconds: WATCH_TIMEOUT },
        };
        // node-3 takes its roles from its Node's labels.
        if (n.name === 'node-3') delete (config.node as { roles?: unknown }).roles;
      },
      // The outsider's peer must forward before the agents look for the API server.
      beforeAgents: async (cl) => {
        await cl.peers.outsider!.forward(API_PORT, socketPath);
      },
    });
    await c.peers['node-1']!.listen('tcp', 2379);
    await c.peers['node-1']!.listen('tcp', 179);
  }, 120_000);

  afterAll(async () => {
    await c?.stop();
    await api?.stop();
    tmp.cleanup();
  });

  it('every agent lists the Nodes and enforces them; node-3 takes its roles from its labels', async () => {
    for (const n of NODES) {
      const s = await status(n.name);
      expect(s.inventory.source).toBe('kubernetes');
      expect(s.inventory.nodes).toBe(3);
      expect(s.inventory.kubernetes.synced).toBe(true);
      expect(s.inventory.kubernetes.server).toBe(SERVER);
    }
    const users = new Set(api.requests.map((r) => r.user));
    expect(users).toContain('cert:artesca-fw');
    expect(users).toContain('token:node-t');
    expect((await c.lab.cli(c.ns['node-3']!, ['status', '--config', c.configFiles['node-3']!])).stdout).toMatch(
      /node-3 \[etcd\]/,
    );
    // node-3 (etcd, from its label) reaches etcd on node-1.
    expect(await probe('node-3', '10.100.0.1', 2379)).toBe('open');
  });

  it('a Node added with the etcd label reaches 2379 within 2 s; its label removed takes the access and its open connection away', async () => {
    await c.addNode(NODE4, false);
    expect(await probe('node-4', '10.100.0.1', 2379)).toBe('timeout');
    api.put(spec(NODE4, { roles: ['etcd'] }));
    const joined = await until(async () => (await probe('node-4', '10.100.0.1', 2379)) === 'open', 2000, 50);
    console.log(`node-4 (etcd) reaches node-1:2379 ${Math.round(joined)} ms after its Node was added`);
    const held = await c.peers['node-4']!.probe('10.100.0.1', 2379, { keep: true });
    expect(held.state).toBe('open');
    expect((await c.peers['node-4']!.use(held.conn!)).state).toBe('echoed');
    api.put(spec(NODE4, { roles: [] }));
    await until(async () => (await probe('node-4', '10.100.0.1', 2379)) === 'timeout', 2000, 50);
    expect((await c.peers['node-4']!.use(held.conn!)).state).not.toBe('echoed');
  });

  it('a workload-plane annotation changed: the new address is a member, the old one is not', async () => {
    expect(await probe('node-4', '10.200.0.1', 179)).toBe('open');
    await c.lab.must(c.ns['node-4']!, 'ip', ['addr', 'del', '10.200.0.4/24', 'dev', 'wp0']);
    await c.lab.must(c.ns['node-4']!, 'ip', ['addr', 'add', '10.200.0.44/24', 'dev', 'wp0']);
    expect(await probe('node-4', '10.200.0.1', 179)).toBe('timeout');
    api.put(spec(NODE4, { wp: '10.200.0.44' }));
    const took = await until(async () => (await probe('node-4', '10.200.0.1', 179)) === 'open', 2000, 50);
    console.log(`workload-plane annotation change live on node-1 in ${Math.round(took)} ms`);
  });

  it('a Node deleted loses its access', async () => {
    api.delete('node-4');
    await until(async () => (await probe('node-4', '10.200.0.1', 179)) === 'timeout', 2000, 50);
    expect((await status()).inventory.nodes).toBe(3);
  });

  it('a 410 Gone leads to one relist per agent, and the change made at the same time is not missed', async () => {
    const before = await k8s();
    api.expireWatches();
    api.put(spec(NODE4, { roles: ['etcd'], wp: '10.200.0.44' }));
    await until(async () => (await probe('node-4', '10.100.0.1', 2379)) === 'open', 3000, 50);
    await until(async () => (await k8s()).lists === before.lists + 1 && !(await k8s()).stale, 3000, 50);
    const after = await k8s();
    expect(after.lists).toBe(before.lists + 1);
    expect(after.relists).toBe(before.relists + 1);
  });

  it('a stalled watch (connection open, nothing sent) is replaced within its deadline, and the change made meanwhile arrives', async () => {
    const before = await k8s();
    api.bookmarkMs = 600_000;
    try {
      expect(api.stallWatches()).toBeGreaterThanOrEqual(3);
      const stalledAt = performance.now();
      api.put(spec(NODE4, { roles: [], wp: '10.200.0.44' }));
      await until(
        async () => (await probe('node-4', '10.100.0.1', 2379)) === 'timeout',
        silentDeadlineMs(WATCH_TIMEOUT) + 3000,
        100,
      );
      const took = performance.now() - stalledAt;
      console.log(
        `stalled watch replaced: change live ${Math.round(took)} ms after the stall (deadline ${silentDeadlineMs(WATCH_TIMEOUT)} ms)`,
      );
      expect(took).toBeLessThan(silentDeadlineMs(WATCH_TIMEOUT) + 2000);
      const after = await k8s();
      expect(after.watches).toBeGreaterThan(before.watches);
      expect(after.lists).toBe(before.lists);
    } finally {
      api.bookmarkMs = 1000;
    }
  }, 30_000);

  it('the API server stopped: rules unchanged for 10 s, /status stale, /readyz 200; an agent restarted meanwhile starts from its cache; back with changes: converged within 5 s', async () => {
    const rulesBefore = await live();
    await halt();
    await until(async () => (await k8s()).stale, 8000, 100);
    // A bounded wait on purpose: it proves that the rules do not change while the API server is away.
    await new Promise((r) => setTimeout(r, 10_000));
    expect(await live()).toBe(rulesBefore);
    const s = await k8s();
    expect(s.stale).toBe(true);
    expect(s.lastError?.message).toBeTruthy();
    expect((await c.peers['node-1']!.http('http://127.0.0.1:9900/readyz')).status).toBe(200);
    expect((await c.lab.cli(c.ns['node-1']!, ['status', '--config', c.configFiles['node-1']!])).stdout).toMatch(/STALE since/);

    // A restart while the API server is away: the cached membership, the same rules.
    await c.restartAgent('node-2');
    await c.waitReady('node-2');
    const s2 = await status('node-2');
    expect(s2.inventory.source).toBe('kubernetes cache');
    expect(s2.inventory.nodes).toBe(4);
    // node-4 is still a member for node-2: its firewall lets it through (nobody listens: refused, not dropped).
    expect(await probe('node-4', '10.200.0.2', 179)).toBe('refused');
    expect((await c.lab.must(c.ns['node-2']!, 'ipset', ['list'])).includes('10.200.0.44')).toBe(true);

    // Changes while it was away: node-4 gets etcd back, node-3 is deleted.
    api.replaceAll([spec(NODES[0]!), spec(NODES[1]!), spec(NODE4, { roles: ['etcd'], wp: '10.200.0.44' })]);
    const back = performance.now();
    await serve();
    await until(async () => (await probe('node-4', '10.100.0.1', 2379)) === 'open', 5000, 50);
    await until(async () => (await probe('node-3', '10.100.0.1', 2379)) === 'timeout', 5000, 50);
    const took = performance.now() - back;
    console.log(`API server back: changes made meanwhile live on node-1 in ${Math.round(took)} ms`);
    expect(took).toBeLessThan(5000);
    await until(
      async () => !(await k8s('node-2')).stale && (await status('node-2')).inventory.source === 'kubernetes',
      5000,
      100,
    );
    // node-3 is gone from the cluster; put it back for what follows.
    api.put(spec(NODES[2]!));
    await until(async () => (await probe('node-3', '10.100.0.1', 2379)) === 'open', 3000, 50);
  }, 60_000);

  it('a list without the local node, and one that shrinks past maxShrink: refused, rules unchanged, a clear error; apply by hand overrides', async () => {
    const all = [...NODES, { ...NODE4, roles: ['etcd' as const], wp: '10.200.0.44' }].map((n) => spec(n));
    await until(async () => (await status()).inventory.nodes === 4, 3000, 50);
    const rulesBefore = await live();

    api.replaceAll(all.filter((n) => n.name !== 'node-1'));
    api.expireWatches();
    await until(async () => (await k8s()).refused !== null, 5000, 50);
    expect((await k8s()).refused!.reason).toMatch(/do not include this node "node-1"/);
    expect(await live()).toBe(rulesBefore);

    api.replaceAll(all.filter((n) => n.name === 'node-1'));
    api.expireWatches();
    await until(async () => /fewer than 2/.test((await k8s()).refused?.reason ?? ''), 5000, 50);
    expect((await k8s()).refused!.reason).toMatch(/1 usable Node\(s\), fewer than 2 \(the last good membership had 4/);
    expect(await live()).toBe(rulesBefore);
    const metrics = (await c.peers['node-1']!.http('http://127.0.0.1:9900/metrics')).body;
    expect(metrics).toMatch(/artesca_fw_membership_refused_total [2-9]/);

    // The operator means it: apply by hand lists once without the shrink guard,
    // writes the cache, and the daemon takes it as its new baseline.
    const r = await c.lab.cli(c.ns['node-1']!, ['apply', '--config', c.configFiles['node-1']!]);
    expect(r.code, r.stderr).toBe(0);
    await until(async () => (await k8s()).refused === null && (await status()).inventory.nodes === 1, 5000, 50);
    expect(await probe('node-2', '10.100.0.1', 2379)).toBe('timeout');

    api.replaceAll(all);
    api.expireWatches();
    // node-1's /status counts the inventory once its rules are live, but node-2's own
    // rules (its egress) come back on their own agent's time: wait for the connection.
    await until(async () => (await status()).inventory.nodes === 4, 5000, 50);
    await until(async () => (await probe('node-2', '10.100.0.1', 2379)) === 'open', 5000, 100);
  });

  it('a Node without the workload-plane annotation is left out and named in /status, the others unaffected', async () => {
    api.put({ name: 'node-6', roles: ['etcd'], cp: '10.100.0.6' });
    await until(async () => (await k8s()).leftOut.some((l) => l.node === 'node-6'), 3000, 50);
    const s = await status();
    expect(s.inventory.kubernetes.leftOut).toEqual([
      { node: 'node-6', field: 'metadata.annotations[projectcalico.org/IPv4Address]', reason: 'workloadPlane IP: missing' },
    ]);
    expect(s.inventory.nodes).toBe(4);
    expect((await c.lab.cli(c.ns['node-1']!, ['status', '--config', c.configFiles['node-1']!])).stdout).toMatch(
      /Node "node-6" left out: metadata\.annotations\[projectcalico\.org\/IPv4Address\]: workloadPlane IP: missing/,
    );
  });

  it('check lists the Nodes once and says what it would enforce', async () => {
    const r = await c.lab.cli(c.ns['node-1']!, ['check', '--config', c.configFiles['node-1']!]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`Membership: 4 Node\\(s\\) from ${SERVER.replace(/\./g, '\\.')}`));
    expect(r.stdout).toMatch(/Node "node-6" left out/);
  });

  it('bad kubeconfigs and inventory.kubernetes sections: apply refuses each, naming file and line, and nothing live changes', async () => {
    const dir = path.join(tmp.dir, 'bad');
    mkdirSync(dir, { recursive: true });
    const good = readFileSync(c.configFiles['node-1']!, 'utf8');
    const goodKube = readFileSync(path.join(c.dir, 'node-1.kubeconfig'), 'utf8');
    const kubeconfigs: [string, string][] = [
      ['insecure', goodKube.replace('    server:', '    insecure-skip-tls-verify: true\n    server:')],
      ['http', goodKube.replace(SERVER, `http://${API_IP}:${API_PORT}`)],
      ['no-context', goodKube.replace('current-context: artesca-fw@test', 'current-context: other')],
      ['exec', goodKube.replace('    token: node-token-1', '    exec: { command: get-token }')],
      ['no-ca', goodKube.replace(/ {4}certificate-authority: .*\n/, '')],
      ['ca-missing', goodKube.replace(/certificate-authority: .*/, 'certificate-authority: /nonexistent/ca.crt')],
      ['yaml', 'clusters: [\n'],
      ['stranger-ca', goodKube.replace(/certificate-authority: .*/, `certificate-authority: ${pki.strangerCaFile}`)],
      ['bad-token', goodKube.replace('node-token-1', 'not-a-known-token')],
    ];
    const sections: [string, string][] = [
      ['addressType', 'controlPlaneIP: { addressType: Hostname }'],
      ['two-sources', 'workloadPlaneIP: { addressType: InternalIP, annotation: a.b/c }'],
      ['maxShrink', 'maxShrink: 3'],
      ['typo', 'kubeconfg: /x'],
    ];
    const cases: { name: string; config: string; expect: RegExp }[] = [];
    for (const [name, text] of kubeconfigs) {
      const file = path.join(dir, `${name}.kubeconfig`);
      writeFileSync(file, text);
      const config = good.replace(/kubeconfig: .*/, `kubeconfig: ${file}`);
      // Refused before any request (a file and line), or by the API server / TLS (named).
      cases.push({ name, config, expect: new RegExp(`${file.replace(/[.]/g, '\\.')}(:\\d+:\\d+)?|${API_IP}`) });
    }
    for (const [name, line] of sections) {
      cases.push({
        name,
        config: good.replace(/(\n\s+)kubeconfig: /, `$1${line}$1kubeconfig: `),
        expect: /\.yaml:\d+:\d+: inventory\.kubernetes/,
      });
    }
    cases.push({
      name: 'timeout',
      config: good.replace(/watchTimeoutSeconds: \d+/, 'watchTimeoutSeconds: 0'),
      expect: /\.yaml:\d+:\d+: inventory\.kubernetes\.watchTimeoutSeconds: /,
    });
    expect(cases.length).toBeGreaterThanOrEqual(10);
    const before = await live();
    for (const k of cases) {
      const file = path.join(dir, `${k.name}.yaml`);
      writeFileSync(file, k.config);
      const r = await c.lab.cli(c.ns['node-1']!, ['apply', '--config', file]);
      expect(r.code, `${k.name}: ${r.stdout}${r.stderr}`).toBe(1);
      expect(r.stderr, k.name).toMatch(k.expect);
    }
    expect(await live()).toBe(before);

    // The running agent's kubeconfig broken in place: it keeps the membership and the rules, and says why.
    const kubeFile = path.join(c.dir, 'node-1.kubeconfig');
    writeFileSync(kubeFile, kubeconfigs[0]![1]);
    await until(async () => /insecure-skip-tls-verify/.test((await k8s()).lastError?.message ?? ''), 5000, 100);
    expect(await live()).toBe(before);
    expect((await status()).inventory.nodes).toBe(4);
    writeFileSync(kubeFile, goodKube);
    await until(async () => (await k8s()).lastError === null || !(await k8s()).stale, 5000, 100);
  });
});
