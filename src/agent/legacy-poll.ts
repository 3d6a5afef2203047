// Drift detection for iptables-legacy, which has no change events. What
// matters most is seen without reading a table: every jump and the last rule
// of every chain of ours match the always-empty watch set, so a deleted jump
// or a flushed chain (or table) lowers a set's reference count, which the set
// check compares every 1.5 s (drift.ts). What that cannot see (a rule of
// another tool inserted above our jump, one rule of ours deleted or changed
// in the middle of a chain) the tables are read for, on a slower cadence.
// Reading costs what the table holds, not what is ours (iptables-legacy copies
// and decodes the whole table even to list one chain), and a host can hold
// tens of thousands of other rules in filter. So each table has its own:
// - mangle (the ingress jumps; kube-proxy and the like barely use it): one
//   family per poll period, in turn (each read is a process start, which
//   costs the agent a fork of itself);
// - filter (the egress jump, and the reject jumps): both families, as often
//   as its size allows: the cadence is set from the time the last read took,
//   so that reading it costs at most about 0.1 % of a core, within
//   [`minFilterMs`, `maxFilterMs`].
// A difference in either triggers the watcher's full check and repair.
import type { Logger } from 'pino';
import type { Table } from '../compile/ruleset.js';
import { tableDiffers } from '../dataplane/changes.js';
import { readFamily } from '../dataplane/live.js';
import type { Reconciler } from './reconciler.js';

export interface LegacyPollOptions {
  /** How often the mangle table of one family is read (in turn). */
  pollMs: number;
  /** Filter is read at most this often, however cheap... */
  minFilterMs: number;
  /** ...and at least this often, whatever it costs. */
  maxFilterMs: number;
  /** Filter read cadence = this many times the time its last read took. */
  filterCostFactor: number;
}

export const DEFAULT_LEGACY_POLL: LegacyPollOptions = {
  pollMs: 10_000,
  minFilterMs: 10_000,
  maxFilterMs: 60_000,
  filterCostFactor: 1000,
};

/** The period at which reading filter costs about 1/`factor` of a core, within [minFilterMs, maxFilterMs]. */
export function filterCadence(lastReadMs: number, opts: LegacyPollOptions): number {
  return Math.min(opts.maxFilterMs, Math.max(opts.minFilterMs, Math.round(lastReadMs * opts.filterCostFactor)));
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
    this.filterEveryMs = opts.minFilterMs;
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
