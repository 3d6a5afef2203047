// What the agent knows to be live without reading it (src/known-live/), and
// the set reference counts the drift watcher compares (compile/desired.ts).
import { describe, expect, it } from 'vitest';
import { setReferences, toDesired } from '../../src/compile/desired.js';
import { KnownLive } from '../../src/known-live/known-live.js';
import { compileTexts, iface } from '../helpers/compile.js';
import { BASE_CONFIG, BASE_INVENTORY } from '../helpers/fixtures.js';

describe('the ruleset known live', () => {
  it('is known only while change events are heard and nothing was doubted since the read', () => {
    const k = new KnownLive();
    k.vouch('a', k.mark());
    expect(k.knows('a')).toBe(false); // no events heard: nothing is known
    k.hearingEvents(true);
    k.vouch('a', k.mark());
    expect(k.knows('a')).toBe(true);
    expect(k.knows('b')).toBe(false);
    k.doubt('changed by pid 42');
    expect(k.knows('a')).toBe(false);
    expect(k.why).toBe('changed by pid 42');
  });
  it('a read that started before a doubt proves nothing', () => {
    const k = new KnownLive();
    k.hearingEvents(true);
    const mark = k.mark();
    k.doubt('changed while reading');
    k.vouch('a', mark);
    expect(k.knows('a')).toBe(false);
    k.vouch('a', k.mark());
    expect(k.knows('a')).toBe(true);
  });
  it('events no longer heard: nothing is known, even once heard again', () => {
    const k = new KnownLive();
    k.hearingEvents(true);
    k.vouch('a', k.mark());
    k.hearingEvents(false);
    expect(k.knows('a')).toBe(false);
    k.hearingEvents(true);
    expect(k.knows('a')).toBe(false);
  });
});

describe('set references', () => {
  it('count each match of a set in the rules and jumps, and list unused sets at 0', () => {
    const desired = toDesired(
      compileTexts(BASE_CONFIG, BASE_INVENTORY, [iface('cp0', '10.100.0.1'), iface('wp0', '10.200.0.1')]),
    );
    const refs = setReferences(desired);
    const specs = desired.families.flatMap((f) => [...f.chains.flatMap((c) => c.specs), ...f.jumps.map((j) => j.spec)]);
    for (const s of desired.sets) {
      const want = specs.reduce((n, spec) => n + spec.split(`--match-set ${s.name} `).length - 1, 0);
      expect(refs.get(s.name)).toBe(want);
    }
    expect([...refs.keys()].sort()).toEqual(desired.sets.map((s) => s.name).sort());
    expect(refs.get('afw4-cp-all')).toBeGreaterThan(1);
  });
});
