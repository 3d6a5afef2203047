// Drift detection for iptables-legacy, which has no change events: the tables
// are read on a timer. Reading costs what the table holds, not what is ours
// (iptables-legacy copies and decodes the whole table even to list one
// chain), and a host can hold tens of thousands of other rules in filter.
// So each table is read on its own cadence:
// - mangle (the ingress jumps; kube-proxy and the like barely use it): one
//   family per poll period, in turn (each process start costs the agent a
//   fork of itself; a flushed chain that holds a set match is seen sooner,
//   by the set check's reference counts, drift.ts);
// - filter (the egress jump, and the reject jumps): every poll period while it
//   is cheap to read, less often as it grows: the cadence is set from the time
//   the last read took, so that reading it costs at most about 0.5 % of a
//   core, and never less often than every `maxFilterMs`.
// A difference in either triggers the watcher's full check and repair.
import type { Logger } from 'pino';
import type { Table } from '../compile/ruleset.js';
import { tableDiffers } from '../dataplane/changes.js';
import { readFamily } from '../dataplane/live.js';
import type { Reconciler } from './reconciler.js';

export interface LegacyPollOptions {
  /** How often mangle is read (and filter, while reading it is cheap). */
  pollMs: number;
  /** Filter is read at least this often, whatever it costs. */
  maxFilterMs: number;
  /** Filter read cadence = this many times the time its last read took. */
  filterCostFactor: number;
}

export const DEFAULT_LEGACY_POLL: LegacyPollOptions = { pollMs: 1000, maxFilterMs: 10_000, filterCostFactor: 200 };

/** The period at which reading filter costs about 1/`factor` of a core, within [pollMs, maxFilterMs]. */
export function filterCadence(lastReadMs: number, opts: LegacyPollOptions): number {
  return Math.min(opts.maxFilterMs, Math.max(opts.pollMs, Math.round(lastReadMs * opts.filterCostFactor)));
}

export class LegacyPoller {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private filterDueAt = 0;
  /** Counts ticks: the family whose mangle table is read this tick. */
  private turn = 0;
  /** Current filter cadence (the log says when it moves). */
  filterEveryMs: number;

  constructor(
    private readonly reconciler: Reconciler,
    private readonly onDrift: (why: string) => void,
    private readonly log: Logger,
    private readonly opts: LegacyPollOptions = DEFAULT_LEGACY_POLL,
  ) {
    this.filterEveryMs = opts.pollMs;
  }

  start(): void {
    this.next();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private next(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick().finally(() => this.next()), this.opts.pollMs);
  }

  private async tick(): Promise<void> {
    const { desired, tools } = this.reconciler;
    if (!desired || !tools || this.reconciler.busy || this.reconciler.status.pendingConfirmation) return;
    const now = Date.now();
    const tables: Table[] = now >= this.filterDueAt ? ['mangle', 'filter'] : ['mangle'];
    const mangleFamily = desired.families[this.turn++ % desired.families.length]!;
    try {
      for (const table of tables) {
        const started = performance.now();
        const families = table === 'mangle' ? [mangleFamily] : desired.families;
        const lives = await Promise.all(families.map((d) => readFamily(tools, d.family, table)));
        this.reconciler.noteLive(lives);
        const yielded = this.reconciler.yielded();
        const changed = families.find((d, i) => tableDiffers(d, lives[i]!, table, { yielded }));
        if (table === 'filter') this.setFilterCadence(performance.now() - started);
        if (changed) {
          this.onDrift(`poll: IPv${changed.family} ${table} differs`);
          return;
        }
      }
    } catch (err) {
      this.log.error({ event: 'drift', err: (err as Error).message }, 'drift poll failed');
    }
  }

  private setFilterCadence(readMs: number): void {
    const every = filterCadence(readMs, this.opts);
    this.filterDueAt = Date.now() + every;
    // Say so when the cadence moves by more than half (not on every jitter).
    if (Math.abs(every - this.filterEveryMs) > this.filterEveryMs / 2) {
      this.log.info(
        { event: 'drift', mode: 'poll', filterEveryMs: every, filterReadMs: Math.round(readMs) },
        `drift: the filter table takes ${Math.round(readMs)} ms to read: reading it every ${every} ms (mangle every ${this.opts.pollMs} ms)`,
      );
    }
    this.filterEveryMs = every;
  }
}
