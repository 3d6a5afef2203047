// Follows what the ruleset depends on outside the kernel: the config and
// inventory files, and the host's interfaces and addresses. Each watcher
// starts from what the agent acted on (the text a reconcile read, the
// interfaces a compile resolved against), not from what it finds when it is
// armed: a change made in between is a change, not the new starting point.
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type FSWatcher, watch } from 'chokidar';
import { contentDigest, hostInterfaces, interfaceSignature } from './sources.js';

/** What the daemon needs of a file watcher (tests give it one that loses events on purpose). */
export interface FileFollower {
  /** Follows exactly these files from now on; resolves once their folders are watched. True when a file was added. */
  setFiles(files: string[]): Promise<boolean>;
  close(): Promise<void>;
}

/** Reads a file the way the sources read it (UTF-8 text) and digests it. */
export async function fileDigest(file: string): Promise<string> {
  return contentDigest(await readFile(file, 'utf8').catch(() => null));
}

/** What a file is now, through any symlinks: a swap of a link (or of a folder it goes through) changes it. */
function fileSignature(file: string): string {
  try {
    const st = statSync(file);
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  } catch (err) {
    return `missing:${(err as NodeJS.ErrnoException).code ?? ''}`;
  }
}

/**
 * Watches files by watching their folders, so that an editor that replaces a
 * file by rename, a config manager that rewrites it in place, and a folder
 * updated by a symlink swap (a Kubernetes ConfigMap's `..data`, `ln -sfn`)
 * are all seen: any event in a watched folder makes the watcher compare each
 * file with what it was (through its links), and a one-second look at the
 * same signatures catches what no event names. Bursts are debounced into one call.
 */
export class FileWatcher implements FileFollower {
  private watcher: FSWatcher | null = null;
  private signatures = new Map<string, string>();
  private dirs = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private poll: NodeJS.Timeout | null = null;

  constructor(
    private readonly onChange: (file: string) => void,
    /** The watch itself failed (inotify limits, a folder gone): what it would have said must be looked for another way. */
    private readonly onError: (err: Error) => void = () => undefined,
    private readonly debounceMs = 50,
    private readonly pollMs = 1000,
  ) {}

  async setFiles(files: string[]): Promise<boolean> {
    const wanted = [...new Set(files.map((f) => path.resolve(f)))];
    const dirs = new Set(wanted.map((f) => path.dirname(f)));
    const known = this.signatures;
    const addedFile = wanted.some((f) => !known.has(f));
    this.signatures = new Map(wanted.map((f) => [f, known.get(f) ?? fileSignature(f)]));
    if (!this.watcher) {
      this.dirs = dirs;
      this.watcher = watch([...dirs], { ignoreInitial: true, depth: 0, followSymlinks: false });
      this.watcher.on('all', () => this.compare());
      this.watcher.on('error', (err) => this.onError(err instanceof Error ? err : new Error(String(err))));
      await new Promise<void>((resolve) => this.watcher!.once('ready', () => resolve()));
      this.poll = setInterval(() => this.compare(), this.pollMs);
      this.poll.unref();
      return addedFile;
    }
    const added = [...dirs].filter((d) => !this.dirs.has(d));
    const removed = [...this.dirs].filter((d) => !dirs.has(d));
    this.dirs = dirs;
    if (added.length) this.watcher.add(added);
    if (removed.length) this.watcher.unwatch(removed);
    return addedFile;
  }

  private compare(): void {
    for (const [file, before] of this.signatures) {
      const now = fileSignature(file);
      if (now !== before) {
        this.signatures.set(file, now);
        this.fire(file);
      }
    }
  }

  private fire(file: string): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.onChange(file);
    }, this.debounceMs);
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    if (this.poll) clearInterval(this.poll);
    await this.watcher?.close();
  }
}

/**
 * Polls the interfaces (getifaddrs, no process spawned): an interface that
 * appears or gets its address after the agent started (boot order, DHCP) is
 * noticed within one period. It starts from the interfaces the last compile
 * resolved the planes against, so a change made while the agent started is
 * one too.
 */
export class InterfaceWatcher {
  private timer: NodeJS.Timeout | null = null;
  private last = '';

  constructor(
    private readonly onChange: () => void,
    private readonly everyMs = 1000,
  ) {}

  /** Starts from `baseline` (what the rules in force were compiled against); true when the host already differs. */
  start(baseline: string): boolean {
    this.last = baseline;
    this.timer = setInterval(() => {
      if (this.changed()) this.onChange();
    }, this.everyMs);
    return this.changed();
  }

  private changed(): boolean {
    const now = interfaceSignature(hostInterfaces());
    if (now === this.last) return false;
    this.last = now;
    return true;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/**
 * The backstop that does not depend on events: at a fixed interval, the text
 * of every followed file is compared with the text the agent last acted on.
 * inotify can lose events (its queue overflows, and libuv, under Node's
 * fs.watch, drops the overflow notice without a word), a watch can fail, and
 * a change can fall between a read and the arming of a watch: whatever the
 * watcher missed is seen here within one interval.
 *
 * What the agent acted on comes from `actedOn` (the digests of the texts the
 * last reconcile read); a followed file the reconciler did not read (the
 * kubeconfig, the membership's cache) is compared with the digest this check
 * took before the agent first read it (`remember`), so a change around that
 * read is acted on, at worst twice, never not at all.
 */
export class ContentCheck {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<string[]> | null = null;
  /** Digests of files the reconciler does not read, as last seen here. */
  private readonly own = new Map<string, string>();
  /** The digest each file had when this check last reported it: reported once per change, not at every interval. */
  private readonly reported = new Map<string, string>();

  constructor(
    private readonly files: () => string[],
    private readonly actedOn: (file: string) => string | undefined,
    /** Acts on a changed file (as on a file event); its promise settles when that is done. */
    private readonly onChange: (file: string) => Promise<void> | void,
    readonly everyMs: number,
  ) {}

  /** Takes the digests of files not known yet: called before the agent reads them. */
  async remember(files: string[]): Promise<void> {
    for (const f of files.map((x) => path.resolve(x))) {
      if (!this.own.has(f) && this.actedOn(f) === undefined) this.own.set(f, await fileDigest(f));
    }
  }

  start(): void {
    this.timer = setInterval(() => void this.checkAndAct(), this.everyMs);
    this.timer.unref();
  }

  /** Checks now and acts on every changed file; resolves with them once that is done. */
  async checkAndAct(): Promise<string[]> {
    const changed = await this.check();
    await Promise.all(changed.map((f) => this.onChange(f)));
    return changed;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The followed files whose text differs from what the agent acted on (each reported once per change). */
  check(): Promise<string[]> {
    this.running ??= this.compare().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async compare(): Promise<string[]> {
    const changed: string[] = [];
    const followed = new Set(this.files().map((x) => path.resolve(x)));
    for (const f of followed) {
      const now = await fileDigest(f);
      const actedOn = this.actedOn(f);
      if (actedOn === undefined) {
        const before = this.own.get(f);
        this.own.set(f, now);
        if (before === undefined || before === now) continue;
      } else if (actedOn === now) {
        this.reported.delete(f);
        continue;
      }
      if (this.reported.get(f) === now) continue;
      this.reported.set(f, now);
      changed.push(f);
    }
    for (const f of [...this.own.keys()]) if (!followed.has(f)) this.own.delete(f);
    return changed;
  }
}
