// Follows what the ruleset depends on outside the kernel: the config and
// inventory files, and the host's interfaces and addresses.
import { statSync } from 'node:fs';
import path from 'node:path';
import { type FSWatcher, watch } from 'chokidar';
import { hostInterfaces } from './sources.js';

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
export class FileWatcher {
  private watcher: FSWatcher | null = null;
  private signatures = new Map<string, string>();
  private dirs = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private poll: NodeJS.Timeout | null = null;

  constructor(
    private readonly onChange: (file: string) => void,
    private readonly debounceMs = 50,
    private readonly pollMs = 1000,
  ) {}

  async setFiles(files: string[]): Promise<void> {
    const wanted = [...new Set(files.map((f) => path.resolve(f)))];
    const dirs = new Set(wanted.map((f) => path.dirname(f)));
    const known = this.signatures;
    this.signatures = new Map(wanted.map((f) => [f, known.get(f) ?? fileSignature(f)]));
    if (!this.watcher) {
      this.dirs = dirs;
      this.watcher = watch([...dirs], { ignoreInitial: true, depth: 0, followSymlinks: false });
      this.watcher.on('all', () => this.compare());
      await new Promise<void>((resolve) => this.watcher!.once('ready', () => resolve()));
      this.poll = setInterval(() => this.compare(), this.pollMs);
      this.poll.unref();
      return;
    }
    const added = [...dirs].filter((d) => !this.dirs.has(d));
    const removed = [...this.dirs].filter((d) => !dirs.has(d));
    this.dirs = dirs;
    if (added.length) this.watcher.add(added);
    if (removed.length) this.watcher.unwatch(removed);
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

/** The interfaces and addresses, as one comparable string. */
export function interfaceSignature(): string {
  return hostInterfaces()
    .map(
      (i) =>
        `${i.name}=${i.addresses
          .map((a) => a.address)
          .sort()
          .join(',')}`,
    )
    .join(';');
}

/**
 * Polls the interfaces (getifaddrs, no process spawned): an interface that
 * appears or gets its address after the agent started (boot order, DHCP) is
 * noticed within one period.
 */
export class InterfaceWatcher {
  private timer: NodeJS.Timeout | null = null;
  private last = interfaceSignature();

  constructor(
    private readonly onChange: () => void,
    private readonly everyMs = 1000,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      const now = interfaceSignature();
      if (now !== this.last) {
        this.last = now;
        this.onChange();
      }
    }, this.everyMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
