// The content check, the backstop behind the file watcher: it compares the
// text of each followed file with what the agent acted on (or, for a file the
// reconciler does not read, with what it remembered before the agent read
// it), reports each change once, and needs no event to do so.
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { contentDigest } from '../../src/agent/sources.js';
import { ContentCheck, fileDigest } from '../../src/agent/watchers.js';
import { tempDir } from '../helpers/fixtures.js';

describe('content check', () => {
  let tmp: { dir: string; cleanup: () => void };
  let config: string;
  let kubeconfig: string;
  /** What the "reconciler" read last: file -> digest. */
  let actedOn: Map<string, string>;
  let followed: string[];
  const make = () =>
    new ContentCheck(
      () => followed,
      (f) => actedOn.get(f),
      () => undefined,
      60_000,
    );

  beforeEach(() => {
    tmp = tempDir('afw-content-');
    config = path.join(tmp.dir, 'config.yaml');
    kubeconfig = path.join(tmp.dir, 'kubeconfig');
    writeFileSync(config, 'a: 1\n');
    writeFileSync(kubeconfig, 'k: 1\n');
    actedOn = new Map([[config, contentDigest('a: 1\n')]]);
    followed = [config];
  });
  afterEach(() => tmp.cleanup());

  it('reports a file whose text differs from what was read, once per change, and nothing once it is read', async () => {
    const check = make();
    expect(await check.check()).toEqual([]);
    writeFileSync(config, 'a: 2\n');
    expect(await check.check()).toEqual([config]);
    expect(await check.check(), 'the same change is reported once').toEqual([]);
    writeFileSync(config, 'a: 3\n');
    expect(await check.check(), 'a further change is reported again').toEqual([config]);
    actedOn.set(config, contentDigest('a: 3\n')); // the reconcile read it
    expect(await check.check()).toEqual([]);
    writeFileSync(config, 'a: 2\n'); // back to a text reported before: still a change against what was read
    expect(await check.check()).toEqual([config]);
  });

  it('compares content, not timestamps: a rewrite with the same text is no change, a same-size edit is one', async () => {
    const check = make();
    writeFileSync(config, 'a: 1\n');
    expect(await check.check()).toEqual([]);
    writeFileSync(`${config}.tmp`, 'a: 9\n');
    renameSync(`${config}.tmp`, config);
    expect(await check.check()).toEqual([config]);
  });

  it('a file that could not be read, or went away, is compared as unreadable', async () => {
    actedOn.set(config, contentDigest(null));
    const check = make();
    rmSync(config);
    expect(await fileDigest(config)).toBe(contentDigest(null));
    expect(await check.check()).toEqual([]);
    writeFileSync(config, 'a: 1\n');
    expect(await check.check()).toEqual([config]);
  });

  it('a file the reconciler does not read is compared with what was remembered before the agent read it', async () => {
    const check = make();
    followed = [config, kubeconfig];
    await check.remember(followed);
    // Changed after it was remembered, before the check: reported (the agent may have read either text).
    writeFileSync(kubeconfig, 'k: 2\n');
    expect(await check.check()).toEqual([kubeconfig]);
    expect(await check.check()).toEqual([]);
    writeFileSync(kubeconfig, 'k: 3\n');
    expect(await check.check()).toEqual([kubeconfig]);
  });

  it('a file followed without being remembered starts from its first look (remember first to close that window)', async () => {
    const check = make();
    followed = [config, kubeconfig];
    writeFileSync(kubeconfig, 'k: 2\n');
    expect(await check.check()).toEqual([]);
    writeFileSync(kubeconfig, 'k: 3\n');
    expect(await check.check()).toEqual([kubeconfig]);
  });

  it('checks that overlap share one read of the files', async () => {
    const check = make();
    writeFileSync(config, 'a: 2\n');
    const [a, b] = await Promise.all([check.check(), check.check()]);
    expect(a).toEqual([config]);
    expect(b).toBe(a);
  });
});
