// The contest for the top of built-in chains: the agent yields to a rule that
// keeps displacing its jump (Felix in chainInsertMode Insert), retries with a
// backoff that doubles, and the conflict clears by itself. Driven by a clock
// the test moves and by live tables parsed from iptables-save text.
import { describe, expect, it } from 'vitest';
import type { DesiredFamily } from '../../src/compile/desired.js';
import { DEFAULT_CONTEST, rivalsAbove, TopOfChain } from '../../src/cutover/top-of-chain.js';
import { chainKey, familyChange } from '../../src/dataplane/changes.js';
import { parseSave } from '../../src/dataplane/live.js';

const FELIX = '-m comment --comment "cali:6gwbT8clXdHdC1b1" -j cali-PREROUTING';
const OURS = '-j AFW-PREROUTING';
const KEY = chainKey(4, 'mangle', 'PREROUTING');

/** mangle PREROUTING holding `rules` in that order (our jump among them, or not). */
function live(...rules: string[]) {
  return parseSave(
    [
      '*mangle',
      ':PREROUTING ACCEPT [0:0]',
      ':AFW-PREROUTING - [0:0]',
      ':cali-PREROUTING - [0:0]',
      ...rules.map((r) => `-A PREROUTING ${r}`),
      'COMMIT',
      '',
    ].join('\n'),
    4,
  );
}
const ON_TOP = live(OURS, FELIX);
const UNDER = (rule = FELIX) => live(rule, OURS);

function contest() {
  const clock = { t: 1_000_000 };
  const c = new TopOfChain(DEFAULT_CONTEST, () => clock.t);
  return { c, clock };
}

/** One round of the fight: the other writer takes the top, a drift check sees it, the repair puts the jump back. */
function round(c: TopOfChain, rule = FELIX) {
  return [...c.observe([UNDER(rule)], 'read'), ...c.observe([UNDER(rule)], 'before write')];
}

describe('the top of a chain, beside a writer that keeps its rule first', () => {
  it('yields after the same rule displaced the jump three times within the window, and reports it', () => {
    const { c, clock } = contest();
    c.observe([ON_TOP], 'read');
    expect(round(c).map((e) => e.kind)).toEqual(['displaced']);
    clock.t += 1000;
    expect(round(c).map((e) => e.kind)).toEqual(['displaced']);
    expect(c.yielded().has(KEY)).toBe(false);
    clock.t += 1000;
    expect(round(c).map((e) => e.kind)).toEqual(['displaced', 'yielded']);
    expect(c.yielded()).toEqual(new Set([KEY]));
    const [conflict] = c.conflicts();
    expect(conflict).toMatchObject({ family: 4, table: 'mangle', chain: 'PREROUTING', otherRule: FELIX, displacements: 3 });
    expect(conflict!.retryAt).toBe(new Date(clock.t + DEFAULT_CONTEST.firstBackoffMs).toISOString());
    expect(conflict!.message).toMatch(/^IPv4 mangle PREROUTING: Calico's Felix keeps its rule first .*chainInsertMode.*Append/);
    expect(c.nextDueAt()).toBe(clock.t + DEFAULT_CONTEST.firstBackoffMs);
  });

  it('while yielded, the jump is left where it stands: no write, no further count', () => {
    const { c, clock } = contest();
    for (let i = 0; i < 3; i++) {
      round(c);
      clock.t += 500;
    }
    expect(round(c)).toEqual([]);
    expect(c.conflicts()[0]!.displacements).toBe(3);
    // The change computation takes the jump as in place below the other rule...
    const desired: DesiredFamily = {
      family: 4,
      chains: [{ name: 'AFW-PREROUTING', table: 'mangle', specs: [], ids: [] }],
      jumps: [{ table: 'mangle', builtin: 'PREROUTING', chain: 'AFW-PREROUTING', spec: OURS }],
    };
    expect(familyChange(desired, UNDER(), { yielded: c.yielded() }).batch).toBe('');
    expect(familyChange(desired, UNDER()).batch).toMatch(/-D PREROUTING -j AFW-PREROUTING\n-I PREROUTING 1 -j AFW-PREROUTING/);
    // ...but never absent: a missing jump is put back even while yielded.
    expect(familyChange(desired, live(FELIX), { yielded: c.yielded() }).batch).toMatch(/-I PREROUTING 1 -j AFW-PREROUTING/);
  });

  it('retries the top after the backoff; displaced again, yields again at once with the backoff doubled', () => {
    const { c, clock } = contest();
    for (let i = 0; i < 3; i++) round(c);
    clock.t += DEFAULT_CONTEST.firstBackoffMs;
    expect(c.yielded().size).toBe(0);
    c.observe([UNDER()], 'before write'); // the retry takes the top
    clock.t += 300;
    const events = c.observe([UNDER()], 'read'); // the other writer takes it back
    expect(events.map((e) => e.kind)).toEqual(['displaced', 'yielded']);
    expect(c.conflicts()[0]!.retryAt).toBe(new Date(clock.t + 2 * DEFAULT_CONTEST.firstBackoffMs).toISOString());
    // The backoff stops doubling at its ceiling.
    for (let i = 0; i < 10; i++) {
      clock.t = c.nextDueAt()!;
      c.observe([UNDER()], 'before write');
      c.observe([UNDER()], 'read');
    }
    expect(Date.parse(c.conflicts()[0]!.retryAt!) - clock.t).toBe(DEFAULT_CONTEST.maxBackoffMs);
  });

  it('clears when the other rule no longer stands above the jump (Felix switched to Append)', () => {
    const { c } = contest();
    for (let i = 0; i < 3; i++) round(c);
    const events = c.observe([ON_TOP], 'read');
    expect(events).toMatchObject([{ kind: 'cleared', why: 'the other rule no longer stands above the jump' }]);
    expect(c.conflicts()).toEqual([]);
    expect(c.yielded().size).toBe(0);
    expect(c.nextDueAt()).toBeUndefined();
  });

  it('clears when a retry keeps the top for a whole window', () => {
    const { c, clock } = contest();
    for (let i = 0; i < 3; i++) round(c);
    clock.t = c.nextDueAt()!;
    c.observe([UNDER()], 'before write');
    expect(c.nextDueAt()).toBe(clock.t + DEFAULT_CONTEST.windowMs);
    clock.t += 1000;
    expect(c.observe([ON_TOP], 'read')).toEqual([]); // still in its quiet window
    clock.t = c.nextDueAt()!;
    expect(c.observe([ON_TOP], 'before write').map((e) => e.kind)).toEqual(['cleared']);
  });

  it('never yields to rules that differ each time, nor to displacements spread wider than the window', () => {
    const { c, clock } = contest();
    for (let i = 0; i < 20; i++) {
      round(c, `-m comment --comment "other ${i}" -j ACCEPT`);
      clock.t += 100;
    }
    expect(c.yielded().size).toBe(0);
    for (let i = 0; i < 10; i++) {
      round(c);
      clock.t += DEFAULT_CONTEST.windowMs / 2 + 1;
    }
    expect(c.conflicts()).toEqual([]);
  });

  it('a drift check and the write after it count one displacement, not two', () => {
    const { c } = contest();
    const events = round(c);
    expect(events.filter((e) => e.kind === 'displaced')).toHaveLength(1);
  });

  it('says where another rule stands above the jump now (what audit cannot see), whether yielded or about to be repaired', () => {
    const { c } = contest();
    c.observe([ON_TOP], 'read');
    expect(c.above()).toEqual([]);
    c.observe([UNDER()], 'read');
    expect(c.above()).toEqual([{ family: 4, table: 'mangle', chain: 'PREROUTING', otherRule: FELIX }]);
    c.observe([UNDER()], 'before write'); // the write puts the jump first
    expect(c.above()).toEqual([]);
    for (let i = 0; i < 3; i++) round(c);
    c.observe([UNDER()], 'before write'); // yielded: the jump stays below
    expect(c.above()).toHaveLength(1);
    c.observe([ON_TOP], 'read');
    expect(c.above()).toEqual([]);
  });

  it('check lists the rules that stand above a jump', () => {
    expect(rivalsAbove([UNDER(), ON_TOP])).toEqual([{ family: 4, table: 'mangle', chain: 'PREROUTING', otherRule: FELIX }]);
  });
});
