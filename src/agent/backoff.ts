// When a load fails, the daemon tries again by itself: about 1 s after the
// first failure, doubling up to 30 s, until it succeeds or the inputs change
// (a different ruleset starts again from 1 s). Jitter keeps the nodes of a
// cluster that failed together from retrying in step.

export const FIRST_RETRY_MS = 1000;
export const MAX_RETRY_MS = 30_000;

export interface RetryState {
  /** Failed loads in a row. */
  failures: number;
  /** When the next attempt starts. */
  nextAt: string;
  delayMs: number;
}

export class Backoff {
  private failures = 0;
  private hash: string | null = null;

  constructor(
    private readonly random: () => number = Math.random,
    private readonly limits: { firstMs: number; maxMs: number } = { firstMs: FIRST_RETRY_MS, maxMs: MAX_RETRY_MS },
  ) {}

  /** Records a failure (of the ruleset `hash`, null when unknown) and returns the pause before the next attempt. */
  failed(hash: string | null): number {
    if (hash !== null && this.hash !== null && hash !== this.hash) this.failures = 0;
    if (hash !== null) this.hash = hash;
    this.failures++;
    const { firstMs, maxMs } = this.limits;
    const base = Math.min(firstMs * 2 ** (this.failures - 1), maxMs);
    return Math.min(Math.round(base * (0.9 + 0.2 * this.random())), maxMs);
  }

  succeeded(): void {
    this.failures = 0;
    this.hash = null;
  }

  get consecutive(): number {
    return this.failures;
  }
}
