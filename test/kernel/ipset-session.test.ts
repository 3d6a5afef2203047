// The set check's ipset session (src/dataplane/ipset-session.ts), run inside a
// network namespace made here: one process answers every request with what
// `ipset -t list` prints, sees every change made meanwhile, and a session that
// cannot start fails the request at once (the set check then runs the
// one-shot command).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, ROOT, requireKernelTests } from '../../scripts/lab/netns.js';
import { tempDir } from '../helpers/fixtures.js';

requireKernelTests();

const SCRIPT = `
const { ToolRunner } = await import(${JSON.stringify(path.join(ROOT, 'dist/src/dataplane/exec.js'))});
const { IpsetSession } = await import(${JSON.stringify(path.join(ROOT, 'dist/src/dataplane/ipset-session.js'))});
const runner = new ToolRunner();
const session = new IpsetSession(runner);
const out = { answers: [], oneShot: [], starts: 0, error: null };
try {
  for (let i = 0; i < 20; i++) {
    out.answers.push(await session.listHeaders());
    out.oneShot.push((await runner.run('ipset', ['-t', 'list'])).stdout);
    if (i === 9) await runner.run('ipset', ['destroy', 'afw4-gone']);
  }
  // Asked together: answered one after the other, each whole.
  out.together = await Promise.all([session.listHeaders(), session.listHeaders(), session.listHeaders()]);
  session.stop();
  out.afterStop = await session.listHeaders();
} catch (e) {
  out.error = e.message;
}
out.starts = runner.starts;
session.stop();
console.log(JSON.stringify(out));
`;

describe('ipset session', () => {
  const lab = new Lab('is');
  const tmp = tempDir();
  let ns: string;
  const script = path.join(tmp.dir, 'session.mjs');

  beforeAll(async () => {
    ns = await lab.ns('n');
    await lab.must(ns, 'ipset', ['create', 'afw4-kept', 'hash:ip']);
    await lab.must(ns, 'ipset', ['add', 'afw4-kept', '10.0.0.1']);
    await lab.must(ns, 'ipset', ['create', 'afw4-gone', 'hash:ip']);
    await lab.must(ns, 'ipset', ['create', 'afw6-kept', 'hash:ip', 'family', 'inet6']);
    writeFileSync(script, SCRIPT);
  });
  afterAll(async () => {
    await lab.cleanup();
    tmp.cleanup();
  });

  it('one process answers every request with what ipset -t list prints, changes included', async () => {
    const r = await lab.exec(ns, process.execPath, [script]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      answers: string[];
      oneShot: string[];
      together: string[];
      afterStop: string;
      starts: number;
      error: string | null;
    };
    expect(out.error).toBeNull();
    expect(out.answers).toEqual(out.oneShot);
    expect(out.answers[0]).toMatch(/^Name: afw4-/);
    expect(out.answers[0]).toContain('Name: afw4-gone\n');
    expect(out.answers[0]).toContain('Number of entries: 1');
    expect(out.answers[0]).toContain('References: 0');
    expect(out.answers[10]).not.toContain('afw4-gone'); // destroyed after the tenth
    expect(out.answers[19]).not.toContain('ipset>');
    expect(out.together).toEqual([out.answers[19], out.answers[19], out.answers[19]]);
    expect(out.afterStop).toBe(out.answers[19]);
    // 20 one-shot commands and the destroy, plus two sessions (the second after stop): not one per answer.
    expect(out.starts).toBe(21 + 2);
  });

  it('a session that cannot start (no ipset, no stdbuf on PATH) fails the request at once', async () => {
    const started = Date.now();
    const r = await lab.exec(ns, process.execPath, [script], { env: { PATH: '/nonexistent' } });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { error: string | null; answers: string[] };
    expect(out.answers).toEqual([]);
    expect(out.error).toMatch(/ipset session|ENOENT/);
    expect(Date.now() - started).toBeLessThan(4000); // not the 5 s answer timeout
  });
});
