// The copies on disk follow a burst of changes with one write per interval:
// the first at once, then the newest of what came meanwhile; nothing newer is
// ever overwritten by something older, and stopping writes what waits.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ThrottledWrite } from '../../src/agent/throttled-write.js';

describe('ThrottledWrite', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A writer whose writes take `ms` and are recorded with the time they started. */
  function recorder(ms: number) {
    const written: { value: number; at: number }[] = [];
    const w = new ThrottledWrite<number>(async (value) => {
      written.push({ value, at: performance.now() });
      await new Promise((r) => setTimeout(r, ms));
    }, 1000);
    return { w, written };
  }

  it('the first change is written at once; a burst after it is one write of its newest, an interval later', async () => {
    const { w, written } = recorder(10);
    const t0 = performance.now();
    w.request(1);
    expect(written.map((x) => x.value)).toEqual([1]);
    for (let v = 2; v <= 50; v++) {
      await vi.advanceTimersByTimeAsync(15);
      w.request(v);
    }
    await vi.advanceTimersByTimeAsync(5000);
    expect(written.map((x) => x.value)).toEqual([1, 50]);
    expect(written[1]!.at - t0).toBeGreaterThanOrEqual(1000);
  });

  it('a long burst is written once per interval, in order, ending with its newest', async () => {
    const { w, written } = recorder(10);
    for (let v = 1; v <= 300; v++) {
      w.request(v);
      await vi.advanceTimersByTimeAsync(20);
    }
    await vi.advanceTimersByTimeAsync(5000);
    const values = written.map((x) => x.value);
    expect(values.at(-1)).toBe(300);
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(values.length).toBeGreaterThanOrEqual(6);
    expect(values.length).toBeLessThanOrEqual(8); // 6 s of burst: one write a second
  });

  it('a change after a quiet interval is written at once again', async () => {
    const { w, written } = recorder(10);
    w.request(1);
    await vi.advanceTimersByTimeAsync(3000);
    w.request(2);
    expect(written.map((x) => x.value)).toEqual([1, 2]);
  });

  it('flush writes what waits without waiting for the interval, after the write in progress', async () => {
    const { w, written } = recorder(100);
    w.request(1);
    w.request(2);
    w.request(3);
    const done = w.flush();
    await vi.advanceTimersByTimeAsync(250);
    await done;
    expect(written.map((x) => x.value)).toEqual([1, 3]);
    expect(written[1]!.at).toBeLessThan(1000);
  });

  it('a failed write does not stop the next one', async () => {
    const written: number[] = [];
    const w = new ThrottledWrite<number>(async (v) => {
      written.push(v);
      if (v === 1) throw new Error('disk full');
    }, 1000);
    w.request(1);
    await vi.advanceTimersByTimeAsync(10);
    w.request(2);
    await vi.advanceTimersByTimeAsync(1500);
    expect(written).toEqual([1, 2]);
  });
});
