// An ARTESCA-like cluster in network namespaces with the real agent running in
// every node: two bridges (control plane, workload plane) in a switch
// namespace, one namespace per node with cp0 and wp0, VIPs, an outsider on both
// planes that is not in the inventory, one shared inventory file (identical on
// all nodes, as a config manager would keep it). stop() removes everything.
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { DaemonProc, until } from './daemon.js';
import { buildCluster, Lab, type Peer } from './netns.js';

export type Role = 'bootstrap' | 'master' | 'etcd' | 'infra' | 'registry';

export interface ClusterNode {
  name: string;
  roles: Role[];
  cp: string;
  wp: string;
  /** Optional IPv6 workload-plane address (dual stack). */
  wp6?: string;
}

/** Four nodes covering the role mixes: every role, a control-plane trio, etcd alone, and none. */
export const FOUR_NODES: ClusterNode[] = [
  { name: 'node-1', roles: ['bootstrap', 'master', 'etcd', 'infra', 'registry'], cp: '10.100.0.1', wp: '10.200.0.1' },
  { name: 'node-2', roles: ['master', 'etcd', 'infra'], cp: '10.100.0.2', wp: '10.200.0.2' },
  { name: 'node-3', roles: ['etcd'], cp: '10.100.0.3', wp: '10.200.0.3' },
  { name: 'node-4', roles: [], cp: '10.100.0.4', wp: '10.200.0.4' },
];

export interface ClusterOptions {
  nodes: ClusterNode[];
  outsider?: { cp: string; wp: string; wp6?: string };
  cpCidr?: string;
  wpCidr?: string;
  wp6Cidr?: string;
  vips?: { management: string[]; data: string[] };
  /** The node whose interfaces carry the VIPs at start (as keepalived would put them). */
  vipHolder?: string;
  /** Extra config fields for every node (mode, denyAction, policies...). */
  extra?: Record<string, unknown>;
  /** Edits each node's config before it is written (inventory.kubernetes, for one). */
  configure?: (n: ClusterNode, config: Record<string, unknown>, dir: string) => void;
  /** Runs once the namespaces and peers are up, before any agent starts. */
  beforeAgents?: (c: Cluster) => Promise<void>;
  /** Start a peer helper (listener and prober) in every namespace. */
  peers?: boolean;
  tag?: string;
}

export class Cluster {
  readonly lab: Lab;
  readonly ns: Record<string, string> = {};
  readonly daemons: Record<string, DaemonProc> = {};
  readonly peers: Record<string, Peer> = {};
  readonly configFiles: Record<string, string> = {};
  readonly dir: string;
  readonly inventoryFile: string;
  nodes: ClusterNode[];

  private constructor(readonly opts: ClusterOptions) {
    this.lab = new Lab(opts.tag ?? 'c');
    this.dir = path.join(os.tmpdir(), this.lab.id);
    this.inventoryFile = path.join(this.dir, 'inventory.yaml');
    this.nodes = [...opts.nodes];
  }

  static async start(opts: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(opts);
    try {
      await c.build();
      return c;
    } catch (err) {
      // What the agents said is what explains a cluster that did not come up.
      const said = Object.entries(c.daemons).map(
        ([name, d]) =>
          `${name}: ${d.logs
            .slice(-4)
            .map((l) => l.msg)
            .join(' | ')} ${d.stderr.slice(-3).join(' | ')}`,
      );
      await c.stop();
      throw new Error(`${(err as Error).message}\n${said.join('\n')}`, { cause: err });
    }
  }

  private cidrs() {
    return {
      cp: this.opts.cpCidr ?? '10.100.0.0/24',
      wp: this.opts.wpCidr ?? '10.200.0.0/24',
      wp6: this.opts.wp6Cidr ?? 'fd00:200::/64',
    };
  }

  private get dualStack(): boolean {
    return this.nodes.some((n) => n.wp6);
  }

  private async build(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const { cp, wp, wp6 } = this.cidrs();
    const cpLen = cp.split('/')[1];
    const wpLen = wp.split('/')[1];
    const wp6Len = wp6.split('/')[1];
    const vips = this.opts.vips ?? { management: [], data: [] };
    const specs = this.nodes.map((n) => ({
      name: n.name,
      cp: [`${n.cp}/${cpLen}`, ...(n.name === this.opts.vipHolder ? vips.management.map((v) => `${v}/${cpLen}`) : [])],
      wp: [
        `${n.wp}/${wpLen}`,
        ...(n.wp6 ? [`${n.wp6}/${wp6Len}`] : []),
        ...(n.name === this.opts.vipHolder ? vips.data.map((v) => `${v}/${wpLen}`) : []),
      ],
    }));
    const o = this.opts.outsider;
    if (o)
      specs.push({
        name: 'outsider',
        cp: [`${o.cp}/${cpLen}`],
        wp: [`${o.wp}/${wpLen}`, ...(o.wp6 ? [`${o.wp6}/${wp6Len}`] : [])],
      });
    Object.assign(this.ns, await buildCluster(this.lab, specs));
    this.writeInventory(this.nodes);
    if (this.opts.peers !== false) {
      for (const name of specs.map((s) => s.name)) this.peers[name] = this.lab.peer(this.ns[name]!);
    }
    await this.opts.beforeAgents?.(this);
    for (const n of this.nodes) this.startAgent(n);
    await Promise.all(this.nodes.map((n) => this.waitReady(n.name)));
  }

  /** Adds a node's namespace to the bridges (the inventory is written separately). */
  async addNode(n: ClusterNode, agent = true): Promise<void> {
    const { cp, wp, wp6 } = this.cidrs();
    const ns = await this.lab.ns(n.name);
    this.ns[n.name] = ns;
    const sw = this.ns.sw!;
    const i = Object.keys(this.ns).length + 10;
    for (const [plane, addrs] of [
      ['cp', [`${n.cp}/${cp.split('/')[1]}`]],
      ['wp', [`${n.wp}/${wp.split('/')[1]}`, ...(n.wp6 ? [`${n.wp6}/${wp6.split('/')[1]}`] : [])]],
    ] as const) {
      await this.lab.veth(ns, `${plane}0`, sw, `${plane}${i}`);
      await this.lab.must(sw, 'ip', ['link', 'set', `${plane}${i}`, 'master', `br-${plane}`]);
      await this.lab.addr(ns, `${plane}0`, ...addrs);
    }
    if (this.opts.peers !== false) this.peers[n.name] = this.lab.peer(ns);
    this.nodes.push(n);
    if (agent) {
      this.startAgent(n);
      await this.waitReady(n.name);
    }
  }

  writeInventory(nodes: ClusterNode[]): void {
    const inv = {
      apiVersion: 'artesca-fw/v1',
      nodes: nodes.map((n) => ({
        name: n.name,
        roles: n.roles,
        controlPlaneIP: n.cp,
        workloadPlaneIP: n.wp6 ? [n.wp, n.wp6] : n.wp,
      })),
    };
    // Write then rename, as a config manager does: readers never see half a file.
    const tmp = `${this.inventoryFile}.tmp`;
    writeFileSync(tmp, stringify(inv));
    renameSync(tmp, this.inventoryFile);
  }

  private configFor(n: ClusterNode): string {
    const { cp, wp, wp6 } = this.cidrs();
    const config = {
      apiVersion: 'artesca-fw/v1',
      node: { name: n.name, roles: n.roles },
      networks: { controlPlane: { cidr: cp }, workloadPlane: { cidr: this.dualStack ? [wp, wp6] : wp } },
      virtualIPs: this.opts.vips ?? { management: [], data: [] },
      inventory: { file: this.inventoryFile },
      stateDir: path.join(this.dir, n.name, 'state'),
      ...(this.opts.extra ?? {}),
    };
    this.opts.configure?.(n, config, this.dir);
    const file = path.join(this.dir, `${n.name}.yaml`);
    writeFileSync(file, stringify(config));
    return file;
  }

  /** Kills a node's agent (SIGKILL, as a crash) and starts a new one with the same config. */
  async restartAgent(name: string): Promise<void> {
    await this.daemons[name]!.kill('SIGKILL');
    this.daemons[name] = new DaemonProc(this.ns[name]!, ['--config', this.configFiles[name]!]);
  }

  private startAgent(n: ClusterNode): void {
    this.configFiles[n.name] = this.configFor(n);
    this.daemons[n.name] = new DaemonProc(this.ns[n.name]!, ['--config', this.configFiles[n.name]!]);
  }

  async waitReady(name: string, timeoutMs = 20_000): Promise<void> {
    const peer = this.peers[name];
    if (peer) {
      await until(async () => (await peer.http('http://127.0.0.1:9900/readyz')).status === 200, timeoutMs, 50);
    } else {
      await this.daemons[name]!.waitFor((l) => l.event === 'apply' && l.reason === 'startup', timeoutMs);
    }
  }

  /** `artesca-fw status` of one node, as text. */
  async statusText(name: string): Promise<string> {
    const r = await this.lab.cli(this.ns[name]!, ['status', '--config', this.configFiles[name]!]);
    return r.stdout.trim() || r.stderr.trim();
  }

  async stop(): Promise<void> {
    await Promise.all(Object.values(this.daemons).map((d) => d.kill('SIGKILL').catch(() => undefined)));
    await this.lab.cleanup();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
