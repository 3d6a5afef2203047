// Keeps the daemon's resident memory close to what it holds: a reconcile of a
// large inventory makes tens of megabytes of short-lived garbage (parsed YAML,
// tool output), and V8 grows its heap rather than give it back. A full
// collection once things are quiet returns it.
import v8 from 'node:v8';
import vm from 'node:vm';

/** Responses that make a burst worth a full collection once it is over. */
const BURST_REQUESTS = 100;

type Gc = (opts?: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/** One per daemon: the daemon makes it and hands it to the reconciler and to the Kubernetes membership. */
export class QuietCollector {
  private gc: Gc | undefined;
  private timer: NodeJS.Timeout | null = null;
  private lastAt = 0;
  /** Responses since the count last reached a burst. */
  private requests = 0;

  private collector(): Gc {
    if (this.gc === undefined) {
      try {
        v8.setFlagsFromString('--expose-gc');
        this.gc = vm.runInNewContext('gc') as Gc;
      } catch {
        this.gc = () => {};
      }
    }
    return this.gc;
  }

  private collect(): void {
    this.timer = null;
    this.lastAt = Date.now();
    // The "last resort" flavour compacts and hands emptied pages back to the
    // system at once (a plain full collection leaves them to V8's memory
    // reducer, which waits several seconds; BENCHMARKS.md section 5).
    this.collector()({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  }

  /** Schedules one full collection `delayMs` after the last call. */
  collectWhenQuiet(delayMs = 1000): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.collect(), delayMs);
    this.timer.unref();
  }

  /**
   * Each response of the agent's servers. A burst of requests (a dashboard
   * polling /status, a load test, a stuck client) leaves garbage and grown
   * buffers behind; once it is over (a quiet second), a full collection gives
   * them back. Occasional requests (a scrape every 15 s) collect nothing.
   */
  served(): void {
    if (++this.requests < BURST_REQUESTS) return;
    // Every hundredth response pushes the collection back: it runs a second after the burst's last ones.
    this.requests = 0;
    this.collectWhenQuiet();
  }

  /**
   * For garbage that never pauses (a watch's status heartbeats, which change
   * nothing and so make no reconcile): a full collection at most once per
   * `periodMs`. Without it the heartbeats' leftovers pile up between V8's own
   * collections (BENCHMARKS.md, "Why the RSS goal at 5,000 Nodes is missed").
   */
  collectPeriodically(periodMs = 60_000): void {
    if (this.timer || Date.now() - this.lastAt < periodMs) return;
    this.collectWhenQuiet(0);
  }
}
