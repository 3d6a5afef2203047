// The pure diff between desired and live: what a reconcile would write.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { countRuleset } from '../../src/compile/describe.js';
import { countDesired, toDesired } from '../../src/compile/desired.js';
import { desiredIsLive, familyChange, setChange } from '../../src/dataplane/changes.js';
import { type LiveState, parseIpsetSave, parseSave } from '../../src/dataplane/live.js';
import { VERSION } from '../../src/version.js';
import { compileTexts, iface } from '../helpers/compile.js';
import { BASE_CONFIG, BASE_INVENTORY } from '../helpers/fixtures.js';

const rs = compileTexts(BASE_CONFIG, BASE_INVENTORY, [iface('cp0', '10.100.0.1', '10.100.0.100'), iface('wp0', '10.200.0.1')]);
const desired = toDesired(rs);
const v4 = desired.families.find((f) => f.family === 4)!;

/**
 * What the real tools printed (test/fixtures/live, `npm run fixtures:capture`):
 * the same config loaded by `artesca-fw apply` among another tool's rules, and
 * after that tool pushed our jump down and a second copy of it was appended.
 */
function captured(backend: 'nft' | 'legacy', scenario: 'loaded' | 'pushed'): LiveState {
  const read = (what: string) =>
    readFileSync(new URL(`../fixtures/live/${backend}-${scenario}.${what}.save`, import.meta.url), 'utf8');
  return {
    families: [parseSave(read('ipv4'), 4), parseSave(read('ipv6'), 6)],
    sets: parseIpsetSave(read('ipset')),
  };
}

/** A synthetic iptables-save text of `d` (plus foreign lines), for cases the fixtures do not hold. */
function saveText(d: typeof v4, extra: { mangleFirst?: string[] } = {}): string {
  const out: string[] = [];
  for (const table of ['mangle', 'filter'] as const) {
    out.push(`*${table}`, ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]');
    for (const c of d.chains.filter((c) => c.table === table)) out.push(`:${c.name} - [0:0]`);
    for (const l of (table === 'mangle' ? extra.mangleFirst : undefined) ?? []) out.push(l);
    for (const h of d.jumps.filter((h) => h.table === table)) out.push(`-A ${h.builtin} ${h.spec}`);
    for (const c of d.chains.filter((c) => c.table === table)) for (const s of c.specs) out.push(`-A ${c.name} ${s}`);
    out.push('COMMIT');
  }
  return out.join('\n');
}

describe.each(['nft', 'legacy'] as const)('familyChange on what iptables-%s-save printed', (backend) => {
  it('writes nothing when the live rules are the ones loaded, and finds the sets equal', () => {
    const live = captured(backend, 'loaded');
    for (const d of desired.families) {
      expect(familyChange(d, live.families.find((f) => f.family === d.family)!).batch).toBe('');
    }
    expect(desiredIsLive(desired, live)).toBe(true);
    expect(live.families[0]!.foreignRules).toBeGreaterThan(5);
  });

  it('puts a pushed-down, doubled jump back on top by rule text, never by position, and touches no foreign rule', () => {
    const live = captured(backend, 'pushed');
    const c = familyChange(v4, live.families[0]!);
    const jump = v4.jumps.find((h) => h.builtin === 'PREROUTING')!;
    const lines = c.batch.split('\n').filter((l) => /^-[DI] /.test(l));
    expect(lines).toEqual([`-D PREROUTING ${jump.spec}`, `-D PREROUTING ${jump.spec}`, `-I PREROUTING 1 ${jump.spec}`]);
    expect(c.batch).not.toMatch(/^-D \S+ \d+$/m);
    expect(c.tables.flatMap((t) => t.rewritten)).toEqual([]);
    expect(desiredIsLive(desired, live)).toBe(false);
  });
});

describe('familyChange', () => {
  it('writes everything on an empty host: chains, rules and jumps at position 1', () => {
    const c = familyChange(v4, parseSave('*mangle\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n', 4));
    expect(c.batch).toContain(':AFW-CP-IN - [0:0]');
    expect(c.batch).toContain(
      '-I PREROUTING 1 -m conntrack ! --ctstate RELATED,ESTABLISHED -m set ! --match-set afw4-watch src -m comment --comment "artesca-fw: ingress policy, new packets" -j AFW-PREROUTING',
    );
    expect(c.batch).toContain('-I OUTPUT 1 ');
    expect(c.batch).not.toMatch(/^-F /m);
  });

  it("replaces an older version's jump to the same chain (one that let established packets in) by this version's", () => {
    const jump = v4.jumps.find((h) => h.builtin === 'PREROUTING')!;
    const old = '-m comment --comment "artesca-fw: ingress policy" -j AFW-PREROUTING';
    const text = saveText(v4).replace(`-A PREROUTING ${jump.spec}`, `-A PREROUTING ${old}`);
    expect(text).toContain(old);
    const lines = familyChange(v4, parseSave(text, 4))
      .batch.split('\n')
      .filter((l) => / PREROUTING /.test(l));
    expect(lines).toEqual([`-D PREROUTING ${old}`, `-I PREROUTING 1 ${jump.spec}`]);
  });

  it('rewrites only the chain that differs', () => {
    const text = readFileSync(new URL('../fixtures/live/nft-loaded.ipv4.save', import.meta.url), 'utf8');
    const live = parseSave(text.replace(/^-A AFW-CP-IN .*kube-apiserver.*$/m, ''), 4);
    const c = familyChange(v4, live);
    expect(c.tables.flatMap((t) => t.rewritten)).toEqual(['AFW-CP-IN']);
    expect(c.batch).not.toContain(':AFW-WP-IN ');
  });

  it('removes chains no longer wanted, after deleting (by text) the rules that jump to them', () => {
    const text = saveText(v4).replace(
      'COMMIT',
      ':AFW-OLD-IN - [0:0]\n-A AFW-OLD-IN -j RETURN\n-A PREROUTING -j AFW-OLD-IN\nCOMMIT',
    );
    const c = familyChange(v4, parseSave(text, 4));
    expect(c.batch).toMatch(/:AFW-OLD-IN - \[0:0\][\s\S]*-D PREROUTING -j AFW-OLD-IN[\s\S]*-X AFW-OLD-IN/);
  });
});

describe('setChange', () => {
  const live = parseIpsetSave(
    [
      'create afw4-cp-all hash:ip family inet hashsize 1024 maxelem 65536',
      'add afw4-cp-all 10.100.0.1',
      'create afw4-gone hash:ip family inet hashsize 1024 maxelem 65536',
      'create afw4-cp-et-swp hash:ip family inet hashsize 1024 maxelem 65536',
      'create other hash:ip family inet',
    ].join('\n'),
  );
  it("sorts sets into created, updated, stale and leftovers, ignoring other tools' sets", () => {
    const c = setChange(desired.sets, live);
    expect(c.updated.map((s) => s.name)).toEqual(['afw4-cp-all']);
    expect(c.created.map((s) => s.name)).toContain('afw4-cp-et');
    expect(c.stale).toEqual(['afw4-gone']);
    expect(c.leftovers).toEqual(['afw4-cp-et-swp']);
    expect([...live.keys()]).not.toContain('other');
  });
});

it('a set that differs by one member is edited in place (one atomic add or del), not rebuilt', () => {
  const all = desired.sets.find((x) => x.name === 'afw4-cp-all')!;
  const minusOne = parseIpsetSave(
    [
      'create afw4-cp-all hash:ip family inet hashsize 1024 maxelem 65536',
      ...all.members.slice(1).map((m) => `add afw4-cp-all ${m}`),
    ].join('\n'),
  );
  const plusOne = parseIpsetSave(
    [
      'create afw4-cp-all hash:ip family inet hashsize 1024 maxelem 65536',
      ...[...all.members, '10.100.0.99'].map((m) => `add afw4-cp-all ${m}`),
    ].join('\n'),
  );
  const only = [all];
  expect(setChange(only, minusOne)).toMatchObject({
    updated: [],
    edited: [{ set: 'afw4-cp-all', op: 'add', member: all.members[0] }],
  });
  expect(setChange(only, plusOne)).toMatchObject({
    updated: [],
    edited: [{ set: 'afw4-cp-all', op: 'del', member: '10.100.0.99' }],
  });
});

it('VERSION matches package.json', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  expect(VERSION).toBe(pkg.version);
});

it('names the addresses leaving a peer set, whether the set stays or goes, and not those of other sets', () => {
  const all = desired.sets.find((x) => x.name === 'afw4-cp-all')!;
  const live = parseIpsetSave(
    [
      'create afw4-cp-all hash:ip family inet hashsize 1024 maxelem 65536',
      ...[...all.members, '10.100.0.99'].map((m) => `add afw4-cp-all ${m}`),
      'create afw4-gone hash:ip family inet hashsize 1024 maxelem 65536',
      'add afw4-gone 10.100.0.98',
      'add afw4-gone 10.100.0.99',
      'create afw4-cp-old-net hash:net family inet hashsize 1024 maxelem 65536',
      'add afw4-cp-old-net 10.100.7.0/24',
      'create afw4-cp-et-swp hash:ip family inet hashsize 1024 maxelem 65536',
      'add afw4-cp-et-swp 10.100.0.97',
    ].join('\n'),
  );
  expect(setChange(desired.sets, live).leaving.sort()).toEqual(['10.100.0.98', '10.100.0.99', '10.100.0.99']);
  expect(setChange(desired.sets, parseIpsetSave('')).leaving).toEqual([]);
});

it('reads ipset save output: members of our sets only, with options and host prefixes stripped', () => {
  const sets = parseIpsetSave(
    [
      'create other hash:ip family inet',
      'add other 10.0.0.9',
      'create afw4-cp-all hash:ip family inet hashsize 1024 maxelem 65536',
      'add afw4-cp-all 10.100.0.1',
      'add afw4-cp-all 10.100.0.2/32',
      'add afw4-cp-all 10.100.0.3 timeout 0',
      'create afw6-wp-all hash:ip family inet6 hashsize 1024 maxelem 65536',
      'add afw6-wp-all fd00::1/128',
      'add afw6-wp-all fd00::2',
      'add afw4-cp-all 10.100.0.4',
      'create afw4-cp-vip hash:net family inet hashsize 1024 maxelem 65536',
      'add afw4-cp-vip 10.100.0.0/24',
    ].join('\n'),
  );
  expect([...sets.keys()]).toEqual(['afw4-cp-all', 'afw6-wp-all', 'afw4-cp-vip']);
  expect(sets.get('afw4-cp-all')).toEqual({
    name: 'afw4-cp-all',
    family: 4,
    type: 'hash:ip',
    members: ['10.100.0.1', '10.100.0.2', '10.100.0.3', '10.100.0.4'],
  });
  expect(sets.get('afw6-wp-all')?.members).toEqual(['fd00::1', 'fd00::2']);
  expect(sets.get('afw6-wp-all')?.family).toBe(6);
  expect(sets.get('afw4-cp-vip')?.members).toEqual(['10.100.0.0/24']);
});

it('counts a desired ruleset as countRuleset counts the Ruleset it came from', () => {
  const { chains: _chains, ...counts } = countRuleset(rs);
  expect(countDesired(desired)).toEqual(counts);
  expect(counts.rules).toBeGreaterThan(0);
});
