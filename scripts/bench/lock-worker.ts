// Runs inside a benchmark namespace (ip netns exec NS node lock-worker.js STATE RUNS):
// what the write lock costs. Interleaved, from the same start each time: an
// apply from empty with and without the lock, a no-op with and without it, and
// taking and giving back the lock alone. Prints JSON (milliseconds).
import { readFileSync } from 'node:fs';
import type { Desired } from '../../src/compile/desired.js';
import { applyDesired } from '../../src/dataplane/apply.js';
import { toolsFor } from '../../src/dataplane/backend.js';
import { ToolRunner } from '../../src/dataplane/exec.js';
import { flushAll } from '../../src/dataplane/flush.js';
import { WriteLock } from '../../src/dataplane/write-lock.js';

async function main(): Promise<void> {
  const desired = (JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as { desired: Desired }).desired;
  const runs = Number(process.argv[3] ?? 20);
  const runner = new ToolRunner();
  const tools = toolsFor('nft', runner);
  const lock = new WriteLock(runner, 'bench');
  const out = {
    applyLocked: [] as number[],
    applyBare: [] as number[],
    noopLocked: [] as number[],
    noopBare: [] as number[],
    lock: [] as number[],
  };
  const time = async (fn: () => Promise<unknown>) => {
    const t = performance.now();
    await fn();
    return performance.now() - t;
  };
  for (let r = 0; r < runs + 1; r++) {
    const order = r % 2 === 0 ? [true, false] : [false, true];
    const sample: Record<string, number> = {};
    for (const locked of order) {
      await flushAll(tools);
      sample[locked ? 'applyLocked' : 'applyBare'] = await time(() =>
        locked ? lock.hold(() => applyDesired(desired, tools)) : applyDesired(desired, tools),
      );
    }
    for (const locked of order) {
      sample[locked ? 'noopLocked' : 'noopBare'] = await time(() =>
        locked ? lock.hold(() => applyDesired(desired, tools)) : applyDesired(desired, tools),
      );
    }
    sample.lock = await time(async () => (await lock.acquire()).release());
    if (r === 0) continue; // warm-up
    for (const [k, v] of Object.entries(sample)) out[k as keyof typeof out].push(v);
  }
  await flushAll(tools);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
