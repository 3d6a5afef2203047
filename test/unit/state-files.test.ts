// The state files are input: each damaged or tampered file is refused with its
// name, line and the field, and a file written by 0.1.0 (format 1) still reads.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readPending, readRolledBack } from '../../src/agent/confirm.js';
import { loadState, STATE_FILE, saveState } from '../../src/agent/state-store.js';
import { desiredHash, toDesired } from '../../src/compile/desired.js';
import type { AfwError } from '../../src/errors.js';
import { compileTexts, iface } from '../helpers/compile.js';
import { BASE_CONFIG, BASE_INVENTORY, tempDir } from '../helpers/fixtures.js';
import { TAMPERS } from '../helpers/tamper.js';

const desired = toDesired(compileTexts(BASE_CONFIG, BASE_INVENTORY, [iface('cp0', '10.100.0.1'), iface('wp0', '10.200.0.1')]));
const tmp = tempDir('afw-state-');
afterAll(() => tmp.cleanup());

async function refusal(dir: string): Promise<AfwError> {
  try {
    await loadState(dir);
  } catch (err) {
    return err as AfwError;
  }
  throw new Error('the file was accepted');
}

describe('last-good.json', () => {
  it('round-trips, written as indented JSON with the hash of its content', async () => {
    const dir = path.join(tmp.dir, 'ok');
    await saveState(dir, 'node-1', 'nft', desired);
    const text = readFileSync(path.join(dir, STATE_FILE), 'utf8');
    expect(text.split('\n').length).toBeGreaterThan(50);
    const state = await loadState(dir);
    expect(state).toMatchObject({ format: 2, node: 'node-1', backend: 'nft', hash: desiredHash(desired) });
    expect(state.desired).toEqual(desired);
  });

  it.each(TAMPERS)('refuses $name, naming the file, the line and the field', async (t) => {
    const good = JSON.parse(readFileSync(path.join(tmp.dir, 'ok', STATE_FILE), 'utf8'));
    const dir = path.join(tmp.dir, t.name.replace(/\W+/g, '-'));
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, STATE_FILE);
    writeFileSync(file, t.make(good));
    const e = await refusal(dir);
    expect(e.code).toBe('AFW_STATE_CORRUPT');
    const lines = e.lines().join('\n');
    expect(lines).toContain(`${file}:`);
    expect(lines).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+: `));
    expect(lines).toContain(t.field);
    expect(lines).toContain('nothing loaded');
  });

  it('reads a file of format 1 (0.1.0 called the jump rules "hooks"), hash and all', async () => {
    const dir = path.join(tmp.dir, 'format1');
    mkdirSync(dir);
    const old = {
      ...desired,
      families: desired.families.map(({ jumps, ...f }) => ({ family: f.family, chains: f.chains, hooks: jumps })),
    };
    const v1 = {
      format: 1,
      savedAt: new Date().toISOString(),
      node: 'node-1',
      backend: 'nft',
      hash: desiredHash(old as never),
      desired: old,
    };
    writeFileSync(path.join(dir, STATE_FILE), `${JSON.stringify(v1)}\n`);
    const state = await loadState(dir);
    expect(state.desired.families[0]!.jumps).toEqual(desired.families[0]!.jumps);
  });
});

describe('the trial files', () => {
  it('refuse a pending file whose previous ruleset was tampered with, and a rolled-back file with a wrong hash', async () => {
    const dir = path.join(tmp.dir, 'trial');
    mkdirSync(dir);
    const now = new Date().toISOString();
    const previous = structuredClone(desired);
    previous.sets[0]!.members.push('10.0.0.1 timeout 0');
    const pending = {
      createdAt: now,
      deadline: now,
      node: 'node-1',
      backend: 'nft',
      tentativeHash: desiredHash(desired),
      tentative: desired,
      previousHash: desiredHash(previous),
      previous,
    };
    writeFileSync(path.join(dir, 'pending-confirmation.json'), JSON.stringify(pending, null, 1));
    await expect(readPending(dir)).rejects.toThrow(/pending-confirmation\.json/);
    const lines = await readPending(dir).catch((e: AfwError) => e.lines().join('\n'));
    expect(lines).toMatch(/pending-confirmation\.json:\d+:\d+: previous\.sets\[0\]\.members\[\d+\]: not an IP address or CIDR/);
    const rolled = {
      at: now,
      refusedHash: desiredHash(desired),
      restoredHash: '0000000000000000',
      restored: desired,
      backend: 'nft',
    };
    writeFileSync(path.join(dir, 'rolled-back.json'), JSON.stringify(rolled, null, 1));
    const r = await readRolledBack(dir).catch((e: AfwError) => e.lines().join('\n'));
    expect(r).toMatch(/rolled-back\.json:\d+:\d+: restoredHash: does not match the content of restored/);
  });
});
