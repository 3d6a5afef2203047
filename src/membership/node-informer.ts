// List then watch Node objects, as client-go's reflector does, with what long
// watches are known to need: a relist on 410 Gone or an ERROR event (never
// otherwise), a new watch from the last resourceVersion when the server ends
// one, a jittered backoff after a dropped or silent connection, and at most one
// list and one watch in flight (the loop below is the only caller).
import type { NodeApi } from './api-client.js';
import { GoneError } from './api-client.js';
import type { NodeObject, WatchEvent } from './node-object.js';

/** How a reconnect waits: failed() gives the pause, succeeded() starts again from the shortest. */
export interface RetryPolicy {
  failed(): number;
  succeeded(): void;
}

export interface InformerStats {
  synced: boolean;
  /** A watch is open and answered. */
  watching: boolean;
  lists: number;
  listPages: number;
  watches: number;
  relists: number;
  events: number;
  lastEventAt: string | null;
  resourceVersion: string | null;
  lastError: { message: string; at: string } | null;
  /** Since when the source cannot be followed (null: it can). */
  staleSince: string | null;
}

export interface InformerOptions {
  /** Asked of the server for each watch. */
  timeoutSeconds: number;
  pageSize: number;
  retry: RetryPolicy;
  /** Keeps what the mapping needs of a Node (the rest of a real Node is large). */
  trim: (node: NodeObject) => NodeObject;
  /**
   * Whether two trimmed Nodes are the same to the mapping. A MODIFIED event
   * that changes nothing of it (a status heartbeat) keeps the object in place
   * and calls nobody.
   */
  same: (a: NodeObject, b: NodeObject) => boolean;
  /** After a complete list, and after each ADDED / MODIFIED / DELETED. */
  onChange: (cause: 'list' | 'event', nodes: ReadonlyMap<string, NodeObject>, changed?: string) => void;
  onRequest?: (kind: 'list' | 'watch') => void;
  onEvent?: (type: WatchEvent['type']) => void;
  onError?: (message: string) => void;
}

/** A watch silent for longer than its timeout plus this margin is dead (the known failure of long watches). */
export function silentDeadlineMs(timeoutSeconds: number): number {
  return (timeoutSeconds + Math.max(2, Math.min(30, Math.round(timeoutSeconds / 10)))) * 1000;
}

export class NodeInformer {
  readonly nodes = new Map<string, NodeObject>();
  readonly stats: InformerStats = {
    synced: false,
    watching: false,
    lists: 0,
    listPages: 0,
    watches: 0,
    relists: 0,
    events: 0,
    lastEventAt: null,
    resourceVersion: null,
    lastError: null,
    staleSince: new Date().toISOString(),
  };
  private stopped = false;
  private readonly abort = new AbortController();
  private wake: (() => void) | null = null;
  private loopDone: Promise<void> | null = null;

  constructor(
    private readonly api: NodeApi,
    private readonly opts: InformerOptions,
  ) {}

  start(): void {
    this.loopDone ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.wake?.();
    await this.loopDone;
    this.api.close();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  private failed(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.stats.lastError = { message, at: new Date().toISOString() };
    this.stats.watching = false;
    this.stats.staleSince ??= new Date().toISOString();
    this.opts.onError?.(message);
  }

  private async loop(): Promise<void> {
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.list();
          needList = false;
        }
        await this.watchOnce();
        // The server ended the watch (its timeoutSeconds): a new one at once, from where this one was.
        this.opts.retry.succeeded();
      } catch (err) {
        if (this.stopped) break;
        if (err instanceof GoneError) {
          // Too old to resume: list again, at once (that is what 410 asks for).
          needList = true;
          this.stats.relists++;
          this.failed(err);
          continue;
        }
        this.failed(err);
        await this.sleep(this.opts.retry.failed());
      }
    }
  }

  private touch(): void {
    this.stats.lastEventAt = new Date().toISOString();
  }

  private async list(): Promise<void> {
    this.stats.lists++;
    const fresh = new Map<string, NodeObject>();
    let cont: string | undefined;
    let rv = '';
    do {
      this.opts.onRequest?.('list');
      this.stats.listPages++;
      const page = await this.api.listPage({ limit: this.opts.pageSize, ...(cont ? { continue: cont } : {}) }, this.abort.signal);
      if (this.stopped) return;
      for (const item of page.items) {
        if (typeof item?.metadata?.name !== 'string') continue;
        fresh.set(item.metadata.name, this.opts.trim(item));
      }
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion ?? rv;
    } while (cont);
    this.nodes.clear();
    for (const [k, v] of fresh) this.nodes.set(k, v);
    this.stats.resourceVersion = rv;
    this.stats.synced = true;
    // A complete list is current data: not stale, even before the watch that follows is open.
    this.stats.staleSince = null;
    this.touch();
    this.opts.onChange('list', this.nodes);
  }

  private async watchOnce(): Promise<void> {
    this.stats.watches++;
    this.opts.onRequest?.('watch');
    const timeoutSeconds = this.opts.timeoutSeconds;
    await this.api.watch(
      { resourceVersion: this.stats.resourceVersion ?? '', timeoutSeconds, silentMs: silentDeadlineMs(timeoutSeconds) },
      (e) => this.onEvent(e),
      this.abort.signal,
      () => this.opened(),
    );
  }

  /** The server accepted the watch: the source is live again. */
  private opened(): void {
    this.stats.watching = true;
    this.stats.staleSince = null;
    this.opts.retry.succeeded();
  }

  private onEvent(e: WatchEvent): void {
    this.stats.events++;
    this.touch();
    this.opts.onEvent?.(e.type);
    switch (e.type) {
      case 'BOOKMARK':
        this.stats.resourceVersion = e.object.metadata.resourceVersion;
        return;
      case 'ERROR':
        // 410 Gone is the expected one; any other ERROR also means the watch cannot go on.
        throw new GoneError(`watch ERROR event: ${e.object.code ?? '?'} ${e.object.message ?? e.object.reason ?? ''}`.trim());
      case 'ADDED':
      case 'MODIFIED':
      case 'DELETED': {
        const node = e.object;
        if (typeof node?.metadata?.name !== 'string') return;
        if (node.metadata.resourceVersion) this.stats.resourceVersion = node.metadata.resourceVersion;
        const name = node.metadata.name;
        if (e.type === 'DELETED') {
          this.nodes.delete(name);
        } else {
          const trimmed = this.opts.trim(node);
          const previous = this.nodes.get(name);
          if (previous && this.opts.same(previous, trimmed)) return;
          this.nodes.set(name, trimmed);
        }
        this.opts.onChange('event', this.nodes, name);
        return;
      }
    }
  }
}
