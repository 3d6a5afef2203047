// The legacy drift poll reads filter as often as its size allows: the cadence
// from the time a read took, bounded by a floor and a ceiling.
import { describe, expect, it } from 'vitest';
import { DEFAULT_LEGACY_POLL, filterCadence } from '../../src/agent/legacy-poll.js';

describe('filter cadence of the legacy drift poll', () => {
  const opts = DEFAULT_LEGACY_POLL;
  it('a cheap table is read at the floor', () => {
    expect(filterCadence(1, opts)).toBe(opts.minFilterMs);
    expect(filterCadence(5, opts)).toBe(opts.minFilterMs);
  });
  it('a costly one is read so that reading costs about 0.1 % of a core', () => {
    expect(filterCadence(12, opts)).toBe(12_000);
    expect(filterCadence(30, opts)).toBe(30_000);
    // 30 ms every 30 s: 0.1 %
    expect(30 / filterCadence(30, opts)).toBeCloseTo(0.001, 4);
  });
  it('never less often than the ceiling, however large the table', () => {
    expect(filterCadence(500, opts)).toBe(opts.maxFilterMs);
    expect(filterCadence(500, { ...opts, maxFilterMs: 4000 })).toBe(4000);
  });
});
