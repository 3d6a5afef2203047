// The list+watch client against the test API server over real TLS on loopback:
// paging, events, 410 relist, a silent watch replaced, authentication, the
// server going away and coming back.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/validate-config.js';
import { HttpsNodeApi } from '../../src/membership/api-client.js';
import { credentialsFrom, loadCredentials } from '../../src/membership/credentials.js';
import { parseKubeconfig } from '../../src/membership/kubeconfig.js';
import { nodeFingerprint, trimNode } from '../../src/membership/loaded-membership.js';
import { NodeInformer, silentDeadlineMs } from '../../src/membership/node-informer.js';
import type { NodeObject } from '../../src/membership/node-object.js';
import { FakeApiServer, type NodeSpec } from '../helpers/fake-apiserver.js';
import { BASE_CONFIG, edit, tempDir } from '../helpers/fixtures.js';
import { kubeconfigText, makePki, type Pki } from '../helpers/test-pki.js';

const tmp = tempDir('afw-inf-');
const CONFIG = parseConfig(
  edit(BASE_CONFIG, [['  file: inventory.yaml\n', '  file: inventory.yaml\n  kubernetes:\n    kubeconfig: /k\n']]),
  '/c.yaml',
  { hostname: 'node-1' },
).config;
let pki: Pki;
let api: FakeApiServer;
const informers: NodeInformer[] = [];

const spec = (i: number, extra: Partial<NodeSpec> = {}): NodeSpec => ({
  name: `node-${i}`,
  roles: i === 1 ? ['etcd', 'master'] : [],
  cp: `10.100.0.${i}`,
  wp: `10.200.0.${i}`,
  ...extra,
});

function kubeconfig(name: string, opts: Parameters<typeof kubeconfigText>[0]): string {
  const file = path.join(tmp.dir, name);
  writeFileSync(file, kubeconfigText(opts));
  return file;
}

function until(pred: () => boolean, ms: number, what: string): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (pred()) return resolve(performance.now() - start);
      if (performance.now() - start > ms) return reject(new Error(`${what}: not within ${ms} ms`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

async function informer(file: string, timeoutSeconds = 30, pageSize = 2): Promise<{ inf: NodeInformer; changes: string[] }> {
  const creds = await loadCredentials(file);
  const changes: string[] = [];
  const inf = new NodeInformer(new HttpsNodeApi(creds), {
    timeoutSeconds,
    pageSize,
    retry: { failed: () => 100, succeeded: () => undefined },
    trim: (n: NodeObject) => trimNode(n, CONFIG),
    same: (a, b) => nodeFingerprint(a) === nodeFingerprint(b),
    onChange: (cause, _nodes, changed) => changes.push(cause === 'list' ? 'list' : `event:${changed}`),
  });
  informers.push(inf);
  inf.start();
  return { inf, changes };
}

beforeAll(async () => {
  pki = makePki(tmp.dir);
  api = new FakeApiServer({ ca: pki.ca, cert: pki.serverCert, key: pki.serverKey });
  api.tokens.add('token-abc');
  await api.start();
});

afterEach(async () => {
  await Promise.all(informers.splice(0).map((i) => i.stop()));
});

afterAll(async () => {
  await api.stop();
  tmp.cleanup();
});

describe('list and watch Nodes', () => {
  it('lists in pages from one snapshot, then follows ADDED, MODIFIED and DELETED', async () => {
    for (let i = 1; i <= 5; i++) api.put(spec(i));
    const { inf, changes } = await informer(
      kubeconfig('cert.yaml', { server: api.url, caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile }),
    );
    await until(() => inf.stats.synced, 5000, 'first list');
    expect(inf.nodes.size).toBe(5);
    expect(inf.stats.listPages).toBe(3);
    expect(inf.stats.lists).toBe(1);
    await until(() => inf.stats.watching, 5000, 'watch open');
    api.put(spec(6));
    api.put(spec(2, { roles: ['etcd'] }));
    api.delete('node-5');
    await until(() => changes.length >= 4, 5000, 'three events');
    expect(changes).toEqual(['list', 'event:node-6', 'event:node-2', 'event:node-5']);
    // A status heartbeat changes nothing the mapping reads: the object stays, nobody is called.
    const kept = inf.nodes.get('node-1');
    api.heartbeat('node-1');
    await until(() => inf.stats.resourceVersion === api.resourceVersion, 5000, 'the heartbeat');
    expect(changes).toHaveLength(4);
    expect(inf.nodes.get('node-1')).toBe(kept);
    expect(inf.nodes.has('node-5')).toBe(false);
    expect(inf.nodes.get('node-2')?.metadata.labels?.['node-role.kubernetes.io/etcd']).toBe('');
    expect(inf.nodes.get('node-2')?.metadata.labels?.['kubernetes.io/hostname']).toBeUndefined(); // trimmed
    expect(inf.stats.resourceVersion).toBe(api.resourceVersion);
    const lists = api.requests.filter((r) => r.kind === 'list' && !r.query.continue);
    expect(lists.at(-1)?.query.limit).toBe('2');
    const watch = api.requests.filter((r) => r.kind === 'watch').at(-1)!;
    expect(watch.query.allowWatchBookmarks).toBe('true');
    expect(watch.user).toBe('cert:artesca-fw');
  });

  it('list pages once handed over are not kept alive by the client while its socket lives on (the watch after them)', async () => {
    for (let i = 1; i <= 3; i++) api.put(spec(i));
    const client = new HttpsNodeApi(
      await loadCredentials(kubeconfig('retain.yaml', { server: api.url, caFile: pki.caFile, token: 'token-abc' })),
    );
    // As the informer does: its stop signal with each request, pages, then a watch on the same keep-alive agent.
    const stop = new AbortController();
    let watching: Promise<void> | undefined;
    try {
      const { refs, rv } = await (async () => {
        const first = await client.listPage({ limit: 2 }, stop.signal);
        const second = await client.listPage({ limit: 2, continue: first.metadata.continue! }, stop.signal);
        expect(first.items).toHaveLength(2);
        expect(second.items.length).toBeGreaterThan(0);
        return { refs: [new WeakRef(first), new WeakRef(second)], rv: second.metadata.resourceVersion! };
      })();
      let opened = false;
      watching = client
        .watch(
          { resourceVersion: rv, timeoutSeconds: 30, silentMs: 60_000 },
          () => undefined,
          stop.signal,
          () => {
            opened = true;
          },
        )
        .catch(() => undefined);
      await until(() => opened, 5000, 'watch open');
      v8.setFlagsFromString('--expose-gc');
      const gc = vm.runInNewContext('gc') as () => void;
      // A WeakRef is cleared by a collection after the task that made it has ended.
      for (let k = 0; k < 2; k++) {
        await new Promise((r) => setTimeout(r, 10));
        gc();
      }
      expect(
        refs.map((r) => r.deref() === undefined),
        'pages still reachable from the client',
      ).toEqual([true, true]);
    } finally {
      stop.abort();
      await watching;
      client.close();
    }
  });

  it('a 410 Gone ERROR event leads to exactly one relist, and a change made meanwhile is not missed', async () => {
    const { inf } = await informer(kubeconfig('token.yaml', { server: api.url, caFile: pki.caFile, token: 'token-abc' }));
    await until(() => inf.stats.watching, 5000, 'watch open');
    const listsBefore = inf.stats.lists;
    api.expireWatches();
    api.put(spec(7));
    await until(() => inf.nodes.has('node-7') && inf.stats.watching, 5000, 'node-7 after relist');
    expect(inf.stats.lists - listsBefore).toBe(1);
    expect(inf.stats.relists).toBe(1);
  });

  it('a watch the server ends (timeoutSeconds) is followed by a new watch from the same resourceVersion, not a list', async () => {
    const { inf } = await informer(kubeconfig('token2.yaml', { server: api.url, caFile: pki.caFile, token: 'token-abc' }), 1);
    await until(() => inf.stats.watches >= 3, 8000, 'three watches');
    expect(inf.stats.lists).toBe(1);
    const watches = api.requests.filter((r) => r.kind === 'watch').slice(-2);
    expect(watches.every((w) => w.query.timeoutSeconds === '1')).toBe(true);
  });

  it('a silent watch (nothing sent, timeout not honoured) is replaced within its deadline', async () => {
    const { inf } = await informer(kubeconfig('token3.yaml', { server: api.url, caFile: pki.caFile, token: 'token-abc' }), 5);
    await until(() => inf.stats.watching, 5000, 'watch open');
    const watchesBefore = inf.stats.watches;
    const bookmarkMs = api.bookmarkMs;
    api.bookmarkMs = 60_000;
    try {
      expect(api.stallWatches()).toBeGreaterThan(0);
      api.put(spec(8));
      const took = await until(() => inf.nodes.has('node-8'), silentDeadlineMs(5) + 3000, 'change after the stall');
      expect(inf.stats.watches).toBeGreaterThan(watchesBefore);
      expect(inf.stats.lastError?.message).toMatch(/nothing received/);
      expect(took).toBeLessThan(silentDeadlineMs(5) + 1000);
      console.log(
        `stalled watch replaced; the change seen ${Math.round(took)} ms after the stall (deadline ${silentDeadlineMs(5)} ms)`,
      );
    } finally {
      api.bookmarkMs = bookmarkMs;
    }
  }, 30_000);

  it('no credentials, or a certificate from another CA: 401, said in lastError, nothing synced', async () => {
    const creds = credentialsFrom(
      parseKubeconfig(
        kubeconfigText({ server: api.url, caFile: pki.caFile, certFile: pki.strangerCertFile, keyFile: pki.strangerKeyFile }),
        path.join(tmp.dir, 'x.yaml'),
      ),
    );
    const inf = new NodeInformer(new HttpsNodeApi(creds), {
      timeoutSeconds: 30,
      pageSize: 10,
      retry: { failed: () => 200, succeeded: () => undefined },
      trim: (n) => n,
      same: () => false,
      onChange: () => undefined,
    });
    informers.push(inf);
    inf.start();
    await until(() => inf.stats.lastError !== null, 5000, 'an error');
    expect(inf.stats.synced).toBe(false);
    expect(inf.stats.lastError?.message).toMatch(/401/);
    const { inf: wrongToken } = await informer(
      kubeconfig('bad-token.yaml', { server: api.url, caFile: pki.caFile, token: 'nope' }),
    );
    await until(() => wrongToken.stats.lastError !== null, 5000, 'an error');
    expect(wrongToken.stats.lastError?.message).toMatch(/401 Unauthorized/);
  });

  it('a server whose certificate is not from the kubeconfig CA is refused (TLS), nothing synced', async () => {
    const { inf } = await informer(
      kubeconfig('wrong-ca.yaml', { server: api.url, caFile: pki.strangerCaFile, token: 'token-abc' }),
    );
    await until(() => inf.stats.lastError !== null, 5000, 'an error');
    expect(inf.stats.synced).toBe(false);
    expect(inf.stats.lastError?.message).toMatch(/certificate/i);
  });

  it('the server stopped: stale, the Nodes kept; back with changes made meanwhile: converged', async () => {
    const { inf } = await informer(kubeconfig('token4.yaml', { server: api.url, caFile: pki.caFile, token: 'token-abc' }));
    await until(() => inf.stats.watching, 5000, 'watch open');
    const before = inf.nodes.size;
    await api.stop();
    await until(() => !inf.stats.watching, 5000, 'stale');
    expect(inf.stats.staleSince).not.toBeNull();
    expect(inf.nodes.size).toBe(before);
    api.replaceAll([spec(1), spec(2), spec(9)]);
    await api.start();
    const took = await until(() => inf.nodes.has('node-9') && inf.nodes.size === 3, 10_000, 'converged');
    expect(inf.stats.staleSince).toBeNull();
    console.log(`API server back: converged in ${Math.round(took)} ms`);
  }, 20_000);
});
