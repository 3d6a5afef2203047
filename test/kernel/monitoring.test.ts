// The cluster's Prometheus (Debian's prometheus, started by the test inside
// an infra node's namespace) scrapes the daemons of a namespace cluster
// through the firewall (metrics.listen), with the alert rules of
// deploy/monitoring (their `for:` shortened, the expressions unchanged):
// every dashboard and alert expression returns data, an alert fires when its
// fault is made (an agent stopped; loads failing), and a node that is not
// infra cannot scrape.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { Cluster, FOUR_NODES } from '../../scripts/lab/cluster.js';
import { DaemonProc, until } from '../../scripts/lab/daemon.js';
import { ROOT, requireKernelTests } from '../../scripts/lab/netns.js';

requireKernelTests();

const PORT = 9901;
const DIR = path.join(ROOT, 'deploy/monitoring');
/** node-2 is infra (master, etcd, infra): the cluster's Prometheus runs there. node-3 (etcd) is not. */
const PROMETHEUS_ON = 'node-2';

interface Series {
  metric: Record<string, string>;
  value: [number, string];
}

describe("the cluster's Prometheus", () => {
  let c: Cluster;
  const api = async (q: string) => {
    const r = await c.peers[PROMETHEUS_ON]!.http(`http://127.0.0.1:9090/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = JSON.parse(r.body) as { status: string; error?: string; data: { result: Series[] } };
    if (body.status !== 'success') throw new Error(`${q}: ${body.error}`);
    return body.data.result;
  };
  const firing = async (alert: string) =>
    (await api(`ALERTS{alertname="${alert}", alertstate="firing"}`)).map((s) => s.metric.instance ?? s.metric.roles ?? '');

  beforeAll(async () => {
    c = await Cluster.start({
      nodes: FOUR_NODES,
      tag: 'mon',
      extra: { metrics: { listen: `:${PORT}` }, verify: { intervalSeconds: 10 } },
      // node-4 in audit mode: what it would refuse is what ArtescaFwRefusalsInAudit and the dashboard count.
      configure: (n, config) => {
        if (n.name === 'node-4') config.mode = 'audit';
      },
    });
    // The alert rules as shipped, with `for:` shortened so that a fault shows in seconds.
    const rules = parse(readFileSync(path.join(DIR, 'artesca-fw.rules.yaml'), 'utf8'));
    for (const g of rules.groups) for (const r of g.rules) if (r.for) r.for = '2s';
    const dir = path.join(c.dir, 'prometheus');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'rules.yaml'), stringify(rules));
    writeFileSync(
      path.join(dir, 'prometheus.yml'),
      stringify({
        global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
        rule_files: [path.join(dir, 'rules.yaml')],
        scrape_configs: [{ job_name: 'artesca-fw', static_configs: [{ targets: FOUR_NODES.map((n) => `${n.cp}:${PORT}`) }] }],
      }),
    );
    c.lab.spawn(c.ns[PROMETHEUS_ON]!, 'prometheus', [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      '--web.listen-address=127.0.0.1:9090',
      '--log.level=warn',
    ]);
    await until(
      async () =>
        (await c.peers[PROMETHEUS_ON]!.http('http://127.0.0.1:9090/-/ready').catch(() => ({ status: 0 }))).status === 200,
      30_000,
      200,
    );
  }, 120_000);
  afterAll(async () => {
    await c?.stop();
  });

  it('scrapes every node through the firewall; a node that is not infra cannot; /metrics only', async () => {
    await until(async () => (await api('up{job="artesca-fw"} == 1')).length === FOUR_NODES.length, 30_000, 500);
    // node-3 (etcd, not infra) is refused by the rule metrics.listen adds; node-2 (infra) gets through.
    const fromEtcd = await c.peers['node-3']!.probe('10.100.0.1', PORT, { timeoutMs: 500 });
    expect(fromEtcd.state).not.toBe('open');
    expect((await c.peers['node-2']!.http(`http://10.100.0.1:${PORT}/metrics`)).body).toMatch(/^artesca_fw_ready 1$/m);
    expect((await c.peers['node-2']!.http(`http://10.100.0.1:${PORT}/status`)).status).toBe(404);
    // The rule shows in explain on the node.
    const explain = (from: string) =>
      c.lab.cli(c.ns['node-1']!, [
        'explain',
        '--config',
        c.configFiles['node-1']!,
        '--from',
        from,
        '--to',
        '10.100.0.1',
        '--port',
        String(PORT),
      ]);
    expect((await explain('10.100.0.2')).stdout).toMatch(/artesca-fw-metrics/);
    expect((await explain('10.100.0.3')).stdout).toMatch(/default deny/);
  });

  it('every dashboard expression and every alert expression returns data', async () => {
    // A membership change, so that the change-to-live histogram has something.
    const inv = readFileSync(c.inventoryFile, 'utf8');
    writeFileSync(
      c.inventoryFile,
      `${inv}  - name: node-9\n    roles: []\n    controlPlaneIP: 10.100.0.9\n    workloadPlaneIP: 10.200.0.9\n`,
    );
    const dashboard = JSON.parse(readFileSync(path.join(DIR, 'grafana-dashboard.json'), 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    for (const p of dashboard.panels)
      for (const t of p.targets) {
        await until(async () => (await api(t.expr)).length > 0, 30_000, 500).catch(() => {
          throw new Error(`dashboard panel "${p.title}": no data for ${t.expr}`);
        });
      }
    // An alert's expression is empty while all is well: without its comparisons, it must return data.
    const rules = parse(readFileSync(path.join(DIR, 'artesca-fw.rules.yaml'), 'utf8')).groups[0].rules as {
      alert: string;
      expr: string;
    }[];
    for (const r of rules) {
      await api(r.expr); // evaluates as written
      const values = r.expr.replace(/\s*(==|!=|>=|<=|>|<)\s*[\d.]+/g, '');
      await until(async () => (await api(values)).length > 0, 30_000, 500).catch(() => {
        throw new Error(`alert ${r.alert}: no data for ${values}`);
      });
    }
    expect(await firing('ArtescaFwAgentNotScraped')).toEqual([]);
    expect(await firing('ArtescaFwLoadsFailing')).toEqual([]);
    // node-4 (audit) would have refused the probe of a port nobody opens: the alert says so.
    await c.peers['node-3']!.probe('10.100.0.4', 9999, { timeoutMs: 300 });
    await until(async () => (await firing('ArtescaFwRefusalsInAudit')).includes(`10.100.0.4:${PORT}`), 30_000, 500);
  }, 90_000);

  it('an alert fires when its fault is made: an agent stopped, loads failing', async () => {
    await c.daemons['node-4']!.kill('SIGKILL');
    // node-3: its agent restarted onto a base chain it cannot add to (as a hand-written nft ruleset might leave).
    await c.daemons['node-3']!.kill('SIGKILL');
    await c.lab.must(c.ns['node-3']!, 'nft', ['delete', 'table', 'ip', 'mangle']);
    await c.lab.must(c.ns['node-3']!, 'nft', ['add', 'table', 'ip', 'mangle']);
    await c.lab.must(c.ns['node-3']!, 'nft', ['add chain ip mangle PREROUTING { type filter hook input priority 0; }']);
    c.daemons['node-3'] = new DaemonProc(c.ns['node-3']!, ['--config', c.configFiles['node-3']!]);
    await until(async () => (await firing('ArtescaFwAgentNotScraped')).includes(`10.100.0.4:${PORT}`), 30_000, 500);
    await until(async () => (await firing('ArtescaFwLoadsFailing')).includes(`10.100.0.3:${PORT}`), 45_000, 500);
    // The agents left alone are not named.
    for (const ok of ['10.100.0.1', '10.100.0.2']) {
      expect(await firing('ArtescaFwAgentNotScraped')).not.toContain(`${ok}:${PORT}`);
      expect(await firing('ArtescaFwLoadsFailing')).not.toContain(`${ok}:${PORT}`);
    }
  }, 90_000);
});
