// The daemon's own verify runs (`verify.intervalSeconds`, off by default):
// the first soon after the setting is seen, then at that interval; the last
// result goes to /status and the metrics. One run at a time; a run is the
// same as the command's, from this node.
import type { Logger } from 'pino';
import type { VerifyReport } from './report.js';

export interface VerifyStatus {
  intervalSeconds: number;
  running: boolean;
  last: null | {
    at: string;
    durationMs: number;
    probes: number;
    asExpected: number;
    mismatches: number;
    /** The first mismatches, as the command lists them. */
    examples: { node: string; address: string; port: number; expected: string; actual: string; rule: string }[];
    error?: string;
  };
}

/** Soon after it is switched on, but not in the same breath as the startup load. */
const FIRST_RUN_MS = 5000;
const EXAMPLES = 10;

export class VerifySchedule {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  readonly status: VerifyStatus = { intervalSeconds: 0, running: false, last: null };

  constructor(
    private readonly run: () => Promise<VerifyReport>,
    private readonly log: Logger,
  ) {}

  configure(intervalSeconds: number): void {
    if (this.stopped || intervalSeconds === this.status.intervalSeconds) return;
    this.status.intervalSeconds = intervalSeconds;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (intervalSeconds > 0) this.schedule(FIRST_RUN_MS);
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => void this.once(), ms);
    this.timer.unref();
  }

  private async once(): Promise<void> {
    if (this.stopped || this.status.running) return;
    this.status.running = true;
    const started = performance.now();
    try {
      const r = await this.run();
      this.status.last = {
        at: new Date().toISOString(),
        durationMs: Math.round(performance.now() - started),
        probes: r.probes,
        asExpected: r.asExpected,
        mismatches: r.mismatches.length,
        examples: r.mismatches.slice(0, EXAMPLES).map(({ node, address, port, expected, actual, rule }) => ({
          node,
          address,
          port,
          expected,
          actual,
          rule,
        })),
      };
      const fields = {
        event: 'verify',
        probes: r.probes,
        mismatches: r.mismatches.length,
        durationMs: this.status.last.durationMs,
      };
      if (r.mismatches.length)
        this.log.warn(
          { ...fields, examples: this.status.last.examples },
          `verify: ${r.mismatches.length} probe(s) did not answer as the policies say`,
        );
      else this.log.info(fields, `verify: all ${r.probes} probes answered as the policies say`);
    } catch (err) {
      this.status.last = {
        at: new Date().toISOString(),
        durationMs: Math.round(performance.now() - started),
        probes: 0,
        asExpected: 0,
        mismatches: 0,
        examples: [],
        error: (err as Error).message,
      };
      this.log.warn({ event: 'verify', err: (err as Error).message }, `verify could not run: ${(err as Error).message}`);
    } finally {
      this.status.running = false;
      if (!this.stopped && this.status.intervalSeconds > 0) this.schedule(this.status.intervalSeconds * 1000);
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
