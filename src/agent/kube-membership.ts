// The daemon's membership from Kubernetes: owns the Node informer, turns each
// change of the Nodes into an inventory, guards it (local node present, no
// shrink beyond maxShrink), hands it to the reconciler, and writes it to
// inventory.file (the cache a restart or a boot without the API server starts
// from). Fail static: while the API server cannot be followed, the last
// membership and its rules stay.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { setImmediate } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Config, InventoryNode } from '../config/model.js';
import { type LoadedInventory, parseInventory } from '../config/validate-inventory.js';
import { type AfwError, asAfwError } from '../errors.js';
import type { Metrics } from '../http/metrics.js';
import { HttpsNodeApi } from '../membership/api-client.js';
import { type ApiCredentials, loadCredentials } from '../membership/credentials.js';
import { inventoryChunks } from '../membership/inventory-text.js';
import { nodeFingerprint, sameMembers, trimNode, viewOf } from '../membership/loaded-membership.js';
import { refuseMembership } from '../membership/membership-guard.js';
import { type InformerStats, NodeInformer } from '../membership/node-informer.js';
import {
  type LeftOutNode,
  type MappingMemo,
  type Membership,
  membershipAfter,
  membershipFromNodes,
} from '../membership/node-mapping.js';
import { Backoff } from './backoff.js';
import type { QuietCollector } from './memory.js';
import { writeChunksAtomic } from './state-files.js';
import { ThrottledWrite } from './throttled-write.js';

/**
 * Reconnects after a dropped or silent watch, or a refused list: 0.2 s
 * doubling, capped at 2 s, jittered (so a cluster's agents do not retry in
 * step). The cap bounds how long an API server that is back goes unnoticed.
 */
const RECONNECT = { firstMs: 200, maxMs: 2000 };
const PAGE_SIZE = 500;
const SETUP_RETRY_MS = 10_000;
/** The cache file is written at most this often (the first change at once, a burst's newest after). */
const CACHE_WRITE_INTERVAL_MS = 1000;

/** A membership in force, to write to inventory.file. */
interface CacheCopy {
  file: string;
  nodes: InventoryNode[];
  server: string;
}

function textDigest(text: string): string {
  return createHash('sha256').update(text).digest('base64');
}

function reconnectPolicy(): { failed(): number; succeeded(): void } {
  const b = new Backoff(Math.random, RECONNECT);
  return { failed: () => b.failed(null), succeeded: () => b.succeeded() };
}

export interface KubernetesStatus {
  server: string | null;
  kubeconfig: string;
  synced: boolean;
  /** The source cannot be followed right now: the last membership is kept (fail static). */
  stale: boolean;
  staleSince: string | null;
  watching: boolean;
  lastEventAt: string | null;
  resourceVersion: string | null;
  lists: number;
  watches: number;
  relists: number;
  events: number;
  /** Nodes in the membership in force. */
  nodes: number | null;
  leftOut: LeftOutNode[];
  /** The last membership a guard refused, while it is the latest the API server gave. */
  refused: { reason: string; at: string } | null;
  lastError: { message: string; at: string } | null;
}

/** The settings whose change needs a new informer (new credentials, or Nodes trimmed differently). */
function informerKey(c: Config): string {
  const k = c.kubernetes!;
  return JSON.stringify([k.kubeconfig, k.roleLabelPrefix, k.ip, k.watchTimeoutSeconds]);
}

export class KubeMembership {
  /** The membership in force (undefined until the first accepted one: the reconciler reads the cache file). */
  current: LoadedInventory | undefined;
  private informer: NodeInformer | null = null;
  private key = '';
  private config: Config | null = null;
  private server: string | null = null;
  private lastGoodCount: number | undefined;
  // Texts are kept as digests: at 5,000 Nodes an inventory text is about half a
  // megabyte, and these only ever answer "is it the same text?".
  /** The digest of what inventory.file holds, as far as this agent knows (it is rewritten only when that differs). */
  private fileDigest: string | undefined;
  /** The digests of the last texts this agent wrote: its own writes seen by the file watcher are not an operator's. */
  private readonly ownDigests: string[] = [];
  /** Each Node's own mapping, for the mapping settings of memoKey (an event maps one Node, not all). */
  private memo: MappingMemo = new WeakMap();
  private memoKey = '';
  /** The mapping of the informer's Nodes as of the last evaluation (null: map them all next time). */
  private mapped: Membership | null = null;
  private leftOut: LeftOutNode[] = [];
  private refused: KubernetesStatus['refused'] = null;
  private setupError: { message: string; at: string } | null = null;
  /** The cache file: written once per second at most (the newest membership of a burst of events). */
  private readonly cache = new ThrottledWrite<CacheCopy>((c) => this.writeCache(c), CACHE_WRITE_INTERVAL_MS);
  /** A kubeconfig that could not be used is read again on this timer (its CA or token may appear later). */
  private setupRetry: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: Logger,
    private readonly metrics: Metrics,
    /** Called when a new membership is in force: the reconciler loads it (resolves once it did). */
    private readonly onAccepted: () => Promise<void>,
    private readonly collector: QuietCollector,
  ) {}

  get active(): boolean {
    return this.config?.kubernetes !== undefined;
  }

  /** Follows the config: starts, restarts or stops the informer; re-maps the Nodes when only the networks changed. */
  async configure(config: Config, opts: { reload?: boolean } = {}): Promise<void> {
    if (!config.kubernetes) {
      if (this.informer) this.log.info({ event: 'membership' }, 'inventory.kubernetes removed: following the inventory file');
      await this.stopInformer();
      this.config = config;
      this.current = undefined;
      this.metrics.membershipSynced.set(0);
      this.metrics.membershipStale.set(0);
      return;
    }
    const before = this.config;
    const key = informerKey(config);
    if (this.informer && key === this.key && !opts.reload) {
      this.config = config;
      if (JSON.stringify(before?.networks) !== JSON.stringify(config.networks) || before?.node.name !== config.node.name) {
        this.evaluate('config');
      }
      return;
    }
    if (this.setupRetry) clearTimeout(this.setupRetry);
    this.setupRetry = null;
    if (this.lastGoodCount === undefined) {
      this.config = config;
      await this.readBaseline();
    }
    let creds: ApiCredentials;
    try {
      creds = await loadCredentials(config.kubernetes.kubeconfig);
    } catch (err) {
      // A kubeconfig that cannot be used changes nothing: a running watch goes on with what it had.
      if (!this.informer) this.config = config;
      this.setupFailed(asAfwError(err), config);
      return;
    }
    this.config = config;
    await this.stopInformer();
    this.key = key;
    this.server = creds.server;
    this.setupError = null;
    this.informer = new NodeInformer(new HttpsNodeApi(creds), {
      timeoutSeconds: config.kubernetes.watchTimeoutSeconds,
      pageSize: PAGE_SIZE,
      retry: reconnectPolicy(),
      trim: (n) => trimNode(n, config),
      same: (a, b) => nodeFingerprint(a) === nodeFingerprint(b),
      onChange: (cause, _nodes, changed) => this.onNodes(cause, changed),
      onRequest: (kind) => this.metrics.membershipRequests.inc({ kind }),
      onEvent: (type) => {
        this.metrics.membershipEvents.inc({ type });
        this.metrics.membershipLastEvent.set(Date.now() / 1000);
        this.collector.collectPeriodically();
      },
      onError: (message) => {
        this.metrics.membershipStale.set(1);
        this.log.warn(
          { event: 'membership', server: this.server, err: message },
          `API server: ${message}; keeping the last membership`,
        );
      },
    });
    this.log.info(
      { event: 'membership', server: creds.server, kubeconfig: config.kubernetes.kubeconfig },
      `following the Node objects of ${creds.server}`,
    );
    this.informer.start();
  }

  private setupFailed(e: AfwError, config: Config): void {
    const message = e.lines().join('; ');
    const again = this.setupError?.message === message;
    if (!again) this.setupError = { message, at: new Date().toISOString() };
    this.setupRetry = setTimeout(() => {
      this.setupRetry = null;
      void this.configure(config, { reload: true });
    }, SETUP_RETRY_MS);
    this.setupRetry.unref();
    if (!this.informer) this.metrics.membershipStale.set(1);
    if (!again) {
      this.log.error(
        { event: 'membership', code: e.code, problems: e.lines(), retryMs: SETUP_RETRY_MS },
        `cannot use ${config.kubernetes?.kubeconfig}: ${e.message}${this.informer ? ' (the running watch goes on with the previous credentials)' : ''}`,
      );
    }
  }

  /** The cache file is the baseline of the shrink guard after a restart (and after an operator's apply). */
  async readBaseline(): Promise<void> {
    const file = this.config?.inventoryFile;
    if (!file) return;
    try {
      const text = await readFile(file, 'utf8');
      const digest = textDigest(text);
      if (this.ownDigests.includes(digest)) return;
      this.lastGoodCount = parseInventory(text, file).inventory.nodes.length;
      this.fileDigest = digest;
    } catch {
      // No cache yet, or a broken one: the first list is judged on the local node alone.
    }
  }

  /** The inventory file changed: if someone else wrote it (an operator's apply), it is the new baseline. */
  async inventoryFileChanged(): Promise<void> {
    const count = this.lastGoodCount;
    await this.readBaseline();
    if (this.lastGoodCount !== count && this.refused) this.evaluate('baseline');
  }

  /** A list, or an event that changed something the mapping reads (heartbeats stop in the informer). */
  private onNodes(cause: 'list' | 'event', changed?: string): void {
    this.metrics.membershipSynced.set(1);
    this.metrics.membershipStale.set(0);
    this.metrics.membershipLastEvent.set(Date.now() / 1000);
    this.evaluate(cause, changed);
  }

  /**
   * The membership of the informer's Nodes now: after an event that changed
   * one Node, the last mapping with that Node mapped again (membershipAfter),
   * else all Nodes mapped.
   */
  private mapNodes(config: Config, changedNode: string | undefined): Membership {
    const k = config.kubernetes!;
    const key = JSON.stringify([k, config.networks]);
    if (key !== this.memoKey) {
      this.memo = new WeakMap();
      this.memoKey = key;
      this.mapped = null;
    }
    const nodes = this.informer!.nodes;
    const after =
      this.mapped && changedNode !== undefined
        ? membershipAfter(this.mapped, changedNode, nodes.get(changedNode), k, config.networks, this.memo)
        : null;
    this.mapped = after ?? membershipFromNodes(nodes.values(), k, config.networks, this.memo);
    return this.mapped;
  }

  /** Maps the Nodes, guards the result, and puts it in force. */
  private evaluate(cause: string, changedNode?: string): void {
    const config = this.config;
    if (!this.informer?.stats.synced || !config?.kubernetes) {
      this.mapped = null; // an event not mapped now: the next one maps all Nodes
      return;
    }
    const server = this.server ?? '?';
    const view = viewOf(this.mapNodes(config, changedNode), config, server);
    this.leftOut = view.leftOut;
    this.metrics.membershipLeftOut.set(view.leftOut.length);
    const refusal = refuseMembership({
      next: view.nodes,
      localName: config.node.name,
      lastGoodCount: this.lastGoodCount,
      maxShrink: config.kubernetes.maxShrink,
      server,
    });
    if (refusal) {
      if (this.refused?.reason !== refusal) {
        this.metrics.membershipRefused.inc();
        this.log.error(
          { event: 'membership', cause, result: 'refused', nodes: view.nodes.length },
          `membership refused: ${refusal}`,
        );
      }
      this.refused = { reason: refusal, at: new Date().toISOString() };
      return;
    }
    if (this.refused) this.log.info({ event: 'membership', cause }, 'membership accepted again');
    this.refused = null;
    // Compared node by node: the cache text and its digest are made after the load was asked for.
    const changed = this.current === undefined || !sameMembers(this.current.inventory.nodes, view.nodes);
    if (!changed) return;
    for (const l of view.leftOut) {
      this.log.warn(
        { event: 'membership', node: l.node, field: l.field },
        `Node "${l.node}" left out: ${l.field} ${l.reason}`.replace('  ', ' '),
      );
    }
    this.current = view.loaded;
    this.lastGoodCount = view.nodes.length;
    this.log.info(
      {
        event: 'membership',
        cause,
        nodes: view.nodes.length,
        leftOut: view.leftOut.length,
        resourceVersion: this.informer.stats.resourceVersion,
      },
      `membership: ${view.nodes.length} node(s) from ${server}`,
    );
    // The cache file once the load is done: its text and digest are not on the way to the rules.
    void this.onAccepted().then(
      () => this.cache.request({ file: config.inventoryFile, nodes: view.nodes, server }),
      () => undefined,
    ); // a failed load is the reconciler's to report
  }

  /** Writes the cache file of a membership put in force, unless the file holds that text already. */
  private async writeCache({ file, nodes, server }: CacheCopy): Promise<void> {
    // Made a piece at a time, the event loop turning between pieces: a Node
    // event that comes meanwhile is not kept waiting for megabytes of text.
    const hash = createHash('sha256');
    const chunks: string[] = [];
    for (const chunk of inventoryChunks(nodes, server)) {
      hash.update(chunk);
      chunks.push(chunk);
      await setImmediate();
    }
    const digest = hash.digest('base64');
    if (digest === this.fileDigest) return;
    this.fileDigest = digest;
    this.ownDigests.push(digest);
    if (this.ownDigests.length > 8) this.ownDigests.shift();
    try {
      await writeChunksAtomic(file, chunks, { dirMode: 0o755, mode: 0o644 });
    } catch (err) {
      this.log.error(
        { event: 'membership', file, err: (err as Error).message },
        `membership in force, but its cache ${file} was not written (a restart without the API server would use the old one)`,
      );
    }
  }

  private async stopInformer(): Promise<void> {
    const informer = this.informer;
    this.informer = null;
    if (informer) await informer.stop();
  }

  /** Stops following the API server; resolves once the cache file holds the membership in force. */
  async stop(): Promise<void> {
    if (this.setupRetry) clearTimeout(this.setupRetry);
    this.setupRetry = null;
    await this.stopInformer();
    await this.cache.flush();
  }

  view(): KubernetesStatus | null {
    const k = this.config?.kubernetes;
    if (!k) return null;
    const s: Partial<InformerStats> = this.informer?.stats ?? {};
    // Stale: no informer, or it has not listed yet or failed since its last complete list or open watch
    // (the informer keeps staleSince set from its start until its first complete list).
    const stale = !this.informer || s.staleSince != null;
    return {
      server: this.server,
      kubeconfig: k.kubeconfig,
      synced: s.synced ?? false,
      stale,
      staleSince: stale ? (s.staleSince ?? this.setupError?.at ?? null) : null,
      watching: s.watching ?? false,
      lastEventAt: s.lastEventAt ?? null,
      resourceVersion: s.resourceVersion ?? null,
      lists: s.lists ?? 0,
      watches: s.watches ?? 0,
      relists: s.relists ?? 0,
      events: s.events ?? 0,
      nodes: this.current?.inventory.nodes.length ?? null,
      leftOut: this.leftOut,
      refused: this.refused,
      lastError: this.setupError ?? s.lastError ?? null,
    };
  }
}
