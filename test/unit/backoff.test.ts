// Retries after a failed load: about 1 s doubling to 30 s, again from 1 s when the inputs change.
import { expect, it } from 'vitest';
import { Backoff, MAX_RETRY_MS } from '../../src/agent/backoff.js';

it('doubles from about 1 s up to 30 s, and starts again on success or on another ruleset', () => {
  const b = new Backoff(() => 0.5); // no jitter
  expect([1, 2, 3, 4, 5, 6, 7].map(() => b.failed('a'))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  expect(b.consecutive).toBe(7);
  expect(b.failed('b')).toBe(1000);
  b.succeeded();
  expect(b.consecutive).toBe(0);
  expect(b.failed(null)).toBe(1000);
});

it('jitters by at most 10 % and never waits more than 30 s', () => {
  for (const r of [0, 0.999]) {
    const b = new Backoff(() => r);
    const d = [1, 2, 3, 4, 5, 6, 7, 8].map(() => b.failed('x'));
    expect(d[0]).toBeGreaterThanOrEqual(900);
    expect(d[0]).toBeLessThanOrEqual(1100);
    expect(Math.max(...d)).toBeLessThanOrEqual(MAX_RETRY_MS);
  }
});
