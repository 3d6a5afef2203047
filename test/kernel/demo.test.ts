// The README's first command, `npm run demo`, past its install steps: the
// example cluster comes up, every probe matches policies.md, verify from each
// node and from the outsider finds no mismatch, the terminal shows matrices
// rather than hundreds of lines, and nothing of the demo is left behind.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT, requireKernelTests } from '../../scripts/lab/netns.js';

requireKernelTests();

const run = promisify(execFile);
const netns = () => (existsSync('/run/netns') ? readdirSync('/run/netns') : []).filter((n) => n.includes('demo'));

describe('npm run demo', () => {
  it('runs the example cluster, shows the verify matrices, exits 0 and leaves nothing behind', async () => {
    const before = netns();
    const { stdout } = await run(process.execPath, [path.join(ROOT, 'dist/scripts/demo.js')], { cwd: ROOT, timeout: 120_000 });
    const lines = stdout.split('\n');
    expect(stdout).toMatch(/^policies\.md, port by port: (\d+) of \1 probes as the document says/m);
    for (const n of ['node-1', 'node-2', 'node-3'])
      expect(stdout).toMatch(
        new RegExp(
          `^verify from ${n} \\(member\\): \\d+ probe\\(s\\), (\\d+) as expected, 0 mismatch\\(es\\), 0 not judged`,
          'm',
        ),
      );
    expect(stdout).toMatch(
      /^verify from outside \(10\.100\.0\.250, 10\.200\.0\.250\): \d+ probe\(s\), \d+ as expected, 0 mismatch\(es\)/m,
    );
    // The matrices: one row per peer and VIP, one cell per port, on node-1's and the outsider's runs.
    expect(stdout).toMatch(/^ {2}node-2 10\.100\.0\.2 +[o.]( [o.?])+$/m);
    expect(stdout).toMatch(/^ {2}node-1 10\.100\.0\.100 \(VIP\) +[o.]( [o.?])+$/m);
    expect(lines.length).toBeLessThan(120);
    expect(netns()).toEqual(before);
  }, 150_000);
});
