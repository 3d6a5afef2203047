// Follows what the ruleset depends on outside the kernel: the config and
// inventory files, and the host's interfaces and addresses.
import path from 'node:path';
import { type FSWatcher, watch } from 'chokidar';
import { hostInterfaces } from './sources.js';

/**
 * Watches files by watching their folders, so that an editor that replaces a
 * file by rename, or a config manager that rewrites it in place, are both seen.
 * Bursts of events are debounced into one call.
 */
export class FileWatcher {
  private watcher: FSWatcher | null = null;
  private files = new Set<string>();
  private dirs = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly onChange: (file: string) => void,
    private readonly debounceMs = 50,
  ) {}

  async setFiles(files: string[]): Promise<void> {
    const wanted = new Set(files.map((f) => path.resolve(f)));
    const dirs = new Set([...wanted].map((f) => path.dirname(f)));
    this.files = wanted;
    if (!this.watcher) {
      this.dirs = dirs; // before watch(): the ignore function reads it while scanning
      this.watcher = watch([...dirs], {
        ignoreInitial: true,
        depth: 0,
        atomic: true,
        ignored: (p: string) => !this.dirs.has(p) && !this.files.has(path.resolve(p)),
      });
      this.watcher.on('all', (_event, p) => {
        if (this.files.has(path.resolve(p))) this.fire(path.resolve(p));
      });
      await new Promise<void>((resolve) => this.watcher!.once('ready', () => resolve()));
      return;
    }
    const added = [...dirs].filter((d) => !this.dirs.has(d));
    const removed = [...this.dirs].filter((d) => !dirs.has(d));
    this.dirs = dirs;
    if (added.length) this.watcher.add(added);
    if (removed.length) this.watcher.unwatch(removed);
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
