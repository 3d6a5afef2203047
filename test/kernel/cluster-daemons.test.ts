// Real cluster daemons from Debian, talking across the firewall, each started
// inside the node namespaces and bounded in time: a three-member etcd cluster,
// keepalived moving the data VIP, node-exporter scraped by the infra node, and
// sshd reachable from the bootstrap node only.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, type ClusterNode, FOUR_NODES } from '../../scripts/lab/cluster.js';
import { until } from '../../scripts/lab/daemon.js';
import { requireKernelTests } from '../../scripts/lab/netns.js';

// Fails at once, naming what is missing, when not root or a tool is not installed.
requireKernelTests();

const NODES = FOUR_NODES;
const DATA_VIP = '10.200.0.100';
const ETCD = NODES.filter((n) => n.roles.includes('etcd'));

describe('real cluster daemons across the firewall', () => {
  let c: Cluster;
  let work: string;
  beforeAll(async () => {
    c = await Cluster.start({
      nodes: NODES,
      outsider: { cp: '10.100.0.250', wp: '10.200.0.250' },
      vips: { management: [], data: [DATA_VIP] },
      tag: 'svc',
    });
    work = path.join(c.dir, 'services');
    mkdirSync(work, { recursive: true });
  }, 120_000);
  afterAll(async () => {
    await c?.stop();
  });

  it('etcd: a three-member cluster is healthy with the firewall enforcing; a client on a non-etcd node is refused', async () => {
    const cluster = ETCD.map((n) => `${n.name}=http://${n.cp}:2380`).join(',');
    for (const n of ETCD) {
      c.lab.spawn(c.ns[n.name]!, 'etcd', [
        '--name',
        n.name,
        '--data-dir',
        path.join(work, `etcd-${n.name}`),
        '--listen-peer-urls',
        `http://${n.cp}:2380`,
        '--listen-client-urls',
        `http://${n.cp}:2379`,
        '--advertise-client-urls',
        `http://${n.cp}:2379`,
        '--initial-advertise-peer-urls',
        `http://${n.cp}:2380`,
        '--initial-cluster',
        cluster,
        '--initial-cluster-state',
        'new',
        '--initial-cluster-token',
        c.lab.id,
      ]);
    }
    const endpoints = ETCD.map((n) => `http://${n.cp}:2379`).join(',');
    const health = () =>
      c.lab.exec(c.ns['node-2']!, 'etcdctl', [
        `--endpoints=${endpoints}`,
        '--dial-timeout=1s',
        '--command-timeout=2s',
        'endpoint',
        'health',
      ]);
    await until(async () => (await health()).code === 0, 30_000, 500);
    const h = await health();
    expect((h.stdout + h.stderr).match(/is healthy/g)).toHaveLength(3);
    const members = await c.lab.must(c.ns['node-1']!, 'etcdctl', [`--endpoints=http://${ETCD[0]!.cp}:2379`, 'member', 'list']);
    expect(members.match(/, started, /g)).toHaveLength(3);
    const put = await c.lab.exec(c.ns['node-3']!, 'etcdctl', [`--endpoints=${endpoints}`, 'put', 'artesca', 'fw']);
    expect(put.code, put.stderr).toBe(0);
    const refused = await c.lab.exec(c.ns['node-4']!, 'etcdctl', [
      `--endpoints=${endpoints}`,
      '--dial-timeout=1s',
      '--command-timeout=2s',
      'get',
      'artesca',
    ]);
    expect(refused.code).not.toBe(0);
  }, 60_000);

  it('keepalived: VRRP crosses the firewall, and the data VIP moves when its holder stops', async () => {
    const start = (n: ClusterNode, priority: number) => {
      const conf = path.join(work, `keepalived-${n.name}.conf`);
      writeFileSync(
        conf,
        `global_defs {\n  router_id ${n.name}\n}\nvrrp_instance data {\n  state BACKUP\n  interface wp0\n  virtual_router_id 51\n  priority ${priority}\n  advert_int 1\n  virtual_ipaddress {\n    ${DATA_VIP}/24 dev wp0\n  }\n}\n`,
      );
      const pid = (k: string) => path.join(work, `keepalived-${n.name}-${k}.pid`);
      return c.lab.spawn(c.ns[n.name]!, 'keepalived', [
        '-n',
        '-l',
        '-D',
        '-f',
        conf,
        '-p',
        pid('main'),
        '-r',
        pid('vrrp'),
        '-c',
        pid('checkers'),
      ]);
    };
    const holds = async (n: ClusterNode) =>
      (await c.lab.must(c.ns[n.name]!, 'ip', ['-4', 'addr', 'show', 'dev', 'wp0'])).includes(`${DATA_VIP}/`);
    const [n1, n2] = [NODES[0]!, NODES[1]!];
    const k1 = start(n1, 150);
    start(n2, 100);
    await until(() => holds(n1), 15_000, 200);
    // node-2 hears node-1's adverts through both firewalls: it stays backup (no split brain).
    // A bounded wait on purpose: it proves that something does not happen (node-2 never takes over).
    await new Promise((r) => setTimeout(r, 4000));
    expect(await holds(n2)).toBe(false);
    expect(await holds(n1)).toBe(true);
    await c.peers['node-2']!.listen('tcp', 443);
    // The holder stops: node-2 takes the VIP, and its firewall lets 443 on the VIP in.
    const t0 = performance.now();
    k1.kill('SIGTERM');
    await until(() => holds(n2), 15_000, 100);
    console.log(
      `keepalived: data VIP moved to node-2 ${Math.round(performance.now() - t0)} ms after node-1's keepalived stopped`,
    );
    expect(await holds(n1)).toBe(false);
    await until(async () => (await c.peers.outsider!.probe(DATA_VIP, 443)).state === 'open', 5000, 200);
  }, 60_000);

  it('node-exporter on 9100: scraped from the infra node, refused from a non-infra node', async () => {
    c.lab.spawn(c.ns['node-4']!, 'prometheus-node-exporter', ['--web.listen-address=10.100.0.4:9100']);
    await until(async () => (await c.peers['node-2']!.http('http://10.100.0.4:9100/metrics')).status === 200, 15_000, 200);
    const scraped = await c.peers['node-2']!.http('http://10.100.0.4:9100/metrics');
    expect(scraped.body).toMatch(/^node_/m);
    const refused = await c.peers['node-3']!.http('http://10.100.0.4:9100/metrics');
    expect(refused.status).toBe(0);
    expect((await c.peers.outsider!.http('http://10.100.0.4:9100/metrics')).status).toBe(0);
  }, 30_000);

  it('sshd on 22: reachable from the bootstrap node only', async () => {
    const key = path.join(work, 'ssh_host_ed25519_key');
    expect(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]).status).toBe(0);
    const conf = path.join(work, 'sshd_config');
    writeFileSync(
      conf,
      `Port 22\nListenAddress 10.100.0.4\nHostKey ${key}\nPidFile ${path.join(work, 'sshd.pid')}\nUsePAM no\nPasswordAuthentication no\n`,
    );
    mkdirSync('/run/sshd', { recursive: true }); // sshd's privilege-separation directory
    c.lab.spawn(c.ns['node-4']!, '/usr/sbin/sshd', ['-D', '-e', '-f', conf]);
    await until(async () => (await c.peers['node-1']!.banner('10.100.0.4', 22)).state === 'open', 10_000, 200);
    expect((await c.peers['node-1']!.banner('10.100.0.4', 22)).line).toMatch(/^SSH-2\.0-OpenSSH/);
    expect((await c.peers['node-2']!.banner('10.100.0.4', 22, 600)).state).toBe('timeout');
    expect((await c.peers.outsider!.banner('10.100.0.4', 22, 600)).state).toBe('timeout');
  }, 30_000);
});
