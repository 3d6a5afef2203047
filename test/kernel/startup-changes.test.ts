// A change made while the agent starts is not lost: /readyz says ready only
// once the watchers are armed and what they follow was compared with what was
// loaded, and a change the file watcher never reports is brought in by the
// content check within its interval.
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProc, until } from '../../scripts/lab/daemon.js';
import { type Peer, ROOT, requireKernelTests } from '../../scripts/lab/netns.js';
import { DEFAULT_CONTENT_CHECK_MS } from '../../src/agent/daemon.js';
import { monitorSubscribed } from '../../src/agent/drift.js';
import { BASE_CONFIG, BASE_INVENTORY, edit } from '../helpers/fixtures.js';
import { buildNodeLab, type NodeLab } from '../helpers/node-lab.js';

requireKernelTests();

const WITHOUT_NODE2 = edit(BASE_INVENTORY, [
  ['  - name: node-2\n    roles: [master, etcd, infra]\n    controlPlaneIP: 10.100.0.2\n    workloadPlaneIP: 10.200.0.2\n', ''],
]);
const NODES = (text: string) => (text === BASE_INVENTORY ? 3 : 2);
const VARIANT = ['node', path.join(ROOT, 'dist/scripts/lab/daemon-variant.js')];

type Way = 'edit in place' | 'rename over' | 'symlink swap';
const WAYS: Way[] = ['edit in place', 'rename over', 'symlink swap'];

describe('changes made while the agent starts', () => {
  let L: NodeLab;
  let n1: string;
  let peer: Record<string, Peer>;
  /** The kubelet's ConfigMap layout: files are links through ..data, a link to a versioned folder. */
  let cm: string;
  let versions = 0;
  const http = (p: string) => peer['node-1']!.http(`http://127.0.0.1:9900${p}`);
  const readyz = () =>
    http('/readyz').then(
      (r) => r.status,
      () => 0,
    );
  const nodesInForce = async () => JSON.parse((await http('/status')).body).inventory?.nodes as number | undefined;
  const probe = () => peer['node-2']!.probe('10.100.0.1', 6443, { timeoutMs: 300 }).then((p) => p.state);

  const cmVersion = (inventory: string) => {
    const name = `..2026_12_04_${versions++}`;
    mkdirSync(path.join(cm, name));
    writeFileSync(path.join(cm, name, 'config.yaml'), BASE_CONFIG.replace('stateDir: state', `stateDir: ${L.stateDir}`));
    writeFileSync(path.join(cm, name, 'inventory.yaml'), inventory);
    return name;
  };
  /** Makes the inventory `text` the way `way` says; the plain folder's file or the ConfigMap's. */
  const change = (way: Way, text: string) => {
    const plain = path.join(L.dir, 'inventory.yaml');
    if (way === 'edit in place') writeFileSync(plain, text);
    else if (way === 'rename over') {
      writeFileSync(`${plain}.tmp`, text);
      renameSync(`${plain}.tmp`, plain);
    } else {
      symlinkSync(cmVersion(text), path.join(cm, '..data_tmp'));
      renameSync(path.join(cm, '..data_tmp'), path.join(cm, '..data'));
    }
  };

  beforeAll(async () => {
    L = await buildNodeLab({ foreign: false });
    n1 = L.ns['node-1']!;
    peer = { 'node-1': L.lab.peer(n1), 'node-2': L.lab.peer(L.ns['node-2']!) };
    await peer['node-1']!.listen('tcp', 6443);
    cm = path.join(L.dir, 'cm');
    mkdirSync(cm);
    symlinkSync(cmVersion(BASE_INVENTORY), path.join(cm, '..data'));
    for (const f of ['config.yaml', 'inventory.yaml']) symlinkSync(path.join('..data', f), path.join(cm, f));
  });
  afterAll(async () => {
    await L?.cleanup();
  });

  it('a change made the moment /readyz first answers 200 is live within 2 s, 30 times in a row (edit in place, rename over, symlink swap)', async () => {
    const plain = { text: BASE_INVENTORY };
    const configMap = { text: BASE_INVENTORY };
    L.writeInventory(plain.text);
    const took: Record<Way, number[]> = { 'edit in place': [], 'rename over': [], 'symlink swap': [] };
    for (let i = 0; i < 30; i++) {
      const way = WAYS[i % 3]!;
      const files = way === 'symlink swap' ? configMap : plain;
      const config = way === 'symlink swap' ? path.join(cm, 'config.yaml') : L.configFile;
      const next = files.text === BASE_INVENTORY ? WITHOUT_NODE2 : BASE_INVENTORY;
      const d = new DaemonProc(n1, ['--config', config]);
      try {
        // As fast as the status server answers: the change lands right after the first 200.
        await until(async () => (await readyz()) === 200, 15_000, 2);
        const t0 = performance.now();
        change(way, next);
        files.text = next;
        try {
          await until(async () => (await nodesInForce()) === NODES(next), 2000, 10);
        } catch (err) {
          throw new Error(
            `change ${i + 1} (${way}) not live within 2 s: ${(err as Error).message}; log: ${JSON.stringify(d.logs.slice(-4))}`,
          );
        }
        took[way].push(performance.now() - t0);
        // The rules say so too: node-2 reaches 6443 exactly while it is in the inventory.
        expect(await probe(), `change ${i + 1} (${way})`).toBe(NODES(next) === 3 ? 'open' : 'timeout');
      } finally {
        await d.kill('SIGTERM');
      }
    }
    for (const way of WAYS) {
      const t = took[way];
      expect(t).toHaveLength(10);
      console.log(
        `${way} at the first 200 of /readyz: live in max ${Math.round(Math.max(...t))} ms, median ${Math.round(t.sort((a, b) => a - b)[5]!)} ms`,
      );
    }
  }, 240_000);

  it('a change the file watcher loses is brought in by the content check within its interval', async () => {
    L.writeInventory(BASE_INVENTORY);
    const d = new DaemonProc(n1, [L.configFile, '--lose-first-file-event'], VARIANT);
    try {
      await until(async () => (await readyz()) === 200, 15_000, 10);
      expect(await nodesInForce()).toBe(3);
      const since = d.logs.length;
      const t0 = performance.now();
      change('rename over', WITHOUT_NODE2);
      const lost = await d.waitFor((l) => l.event === 'test', 3000, since);
      expect(lost.lost).toBe(path.join(L.dir, 'inventory.yaml'));
      const seen = await d.waitFor((l) => l.event === 'file', DEFAULT_CONTENT_CHECK_MS + 2000, since);
      expect(seen.seenBy).toBe('content check');
      await until(async () => (await nodesInForce()) === 2, DEFAULT_CONTENT_CHECK_MS + 2000 - (performance.now() - t0), 50);
      const took = performance.now() - t0;
      expect(took).toBeLessThan(DEFAULT_CONTENT_CHECK_MS + 2000);
      expect(await probe()).toBe('timeout');
      console.log(
        `change lost by the watcher: live ${Math.round(took)} ms later (content check every ${DEFAULT_CONTENT_CHECK_MS} ms)`,
      );
    } finally {
      await d.kill('SIGTERM');
      L.writeInventory(BASE_INVENTORY);
    }
  }, 60_000);

  it('the drift watch counts as armed once nft monitor has joined the nftables group, not when it was started', async () => {
    const monitor = L.lab.spawn(n1, 'nft', ['monitor']);
    const other = L.lab.spawn(n1, 'sleep', ['30']);
    try {
      // `ip netns exec` runs the command in its own place: the PID is nft's.
      const took = await until(() => monitorSubscribed(monitor.pid!), 2000, 5);
      expect(await monitorSubscribed(other.pid!), 'a process without the socket').toBe(false);
      expect(await monitorSubscribed(999_999_999), 'no such process').toBe(false);
      // What it hears from then on: a change made now is reported.
      const heard = new Promise<string>((resolve) => monitor.stdout.on('data', (b: Buffer) => resolve(b.toString())));
      await L.lab.must(n1, 'nft', ['add', 'table', 'inet', 'afw_armed_probe']);
      expect(await heard).toMatch(/afw_armed_probe/);
      console.log(`nft monitor subscribed ${Math.round(took)} ms after it was started`);
    } finally {
      monitor.kill('SIGTERM');
      other.kill('SIGTERM');
      await L.lab.exec(n1, 'nft', ['delete', 'table', 'inet', 'afw_armed_probe']);
    }
  });
});
