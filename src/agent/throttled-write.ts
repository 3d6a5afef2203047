// Copies kept on disk for a restart (the last-known-good ruleset, the
// membership's cache file) follow what is in force without being rewritten
// for every change of a burst: at 20,000 nodes each copy is megabytes of text
// to make, write and fsync. The first change is written at once; the changes
// that come while a copy is written, or within the interval after it, are
// folded into one write of the newest, when the interval ends.

export class ThrottledWrite<T> {
  private pending: { value: T } | null = null;
  private writing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastAt = Number.NEGATIVE_INFINITY;
  /** While flushing, what waits is written without waiting for the interval. */
  private flushing = false;

  constructor(
    /** Writes one value; reports its own failure (a rejection is not retried). */
    private readonly write: (value: T) => Promise<void>,
    private readonly intervalMs: number,
  ) {}

  /** `value` is the newest: it is written at once, or replaces what waits for the next write. */
  request(value: T): void {
    this.pending = { value };
    this.next();
  }

  private next(): void {
    if (this.writing || this.timer || !this.pending) return;
    const wait = this.flushing ? 0 : this.lastAt + this.intervalMs - performance.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.next();
      }, wait);
      return;
    }
    const { value } = this.pending;
    this.pending = null;
    this.lastAt = performance.now();
    this.writing = this.write(value)
      .catch(() => undefined)
      .finally(() => {
        this.writing = null;
        this.next();
      });
  }

  /** Writes what waits now, without waiting for the interval (the agent stops), and resolves once all is written. */
  async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.writing || this.pending) {
        if (this.timer) clearTimeout(this.timer);
        this.timer = null;
        if (this.writing) await this.writing;
        else this.next();
      }
    } finally {
      this.flushing = false;
    }
  }
}
