// Runs inside a benchmark namespace (ip netns exec NS node apply-worker.js FILE RUNS):
// loads the same ruleset with the raw tools and with artesca-fw's apply, from
// the same empty start each time, then times a no-op reconcile. Prints JSON.
import { readFileSync } from 'node:fs';
import type { Desired } from '../../src/compile/desired.js';
import { applyDesired, verify } from '../../src/dataplane/apply.js';
import { toolsFor } from '../../src/dataplane/backend.js';
import { ToolRunner } from '../../src/dataplane/exec.js';
import { flushAll } from '../../src/dataplane/flush.js';
import { readLive } from '../../src/dataplane/live.js';
import { WriteLock } from '../../src/dataplane/write-lock.js';

interface Input {
  rawSets: string;
  ipv4: string;
  ipv6: string;
  desired: Desired;
}

const runner = new ToolRunner();

async function must(cmd: string, args: string[], input: string): Promise<void> {
  const r = await runner.run(cmd, args, { input });
  if (r.code !== 0) throw new Error(`${cmd}: ${r.stderr}`);
}

async function main(): Promise<void> {
  const input = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Input;
  const runs = Number(process.argv[3] ?? 10);
  const tools = toolsFor('nft', runner);
  const lock = new WriteLock(runner, 'bench');
  const raw: number[] = [];
  const ours: number[] = [];
  const noop: number[] = [];
  const reads: number[] = [];
  const verifies: number[] = [];
  // Taking and giving back the write lock, uncontended: what every apply and reconcile now pays.
  const locks: number[] = [];
  let noopWrote = false;
  const starts = { raw: 0, ours: 0, noop: 0 };
  // What one process start costs from this process, before any tool does anything.
  const bare: number[] = [];
  for (let i = 0; i < 21; i++) {
    const t = performance.now();
    await runner.run('true', []);
    if (i > 0) bare.push(performance.now() - t);
  }
  for (let r = 0; r < runs + 1; r++) {
    await flushAll(tools);
    let s = runner.starts;
    let t = performance.now();
    // What a hand-written script would run: the sets, then each family, one after the other.
    await must('ipset', ['restore'], input.rawSets);
    await must('iptables-nft-restore', ['--noflush', '--wait'], input.ipv4);
    await must('ip6tables-nft-restore', ['--noflush', '--wait'], input.ipv6);
    const rawMs = performance.now() - t;
    starts.raw = runner.starts - s;
    await flushAll(tools);
    s = runner.starts;
    t = performance.now();
    await lock.hold(() => applyDesired(input.desired, tools));
    const oursMs = performance.now() - t;
    starts.ours = runner.starts - s;
    s = runner.starts;
    t = performance.now();
    const again = await lock.hold(() => applyDesired(input.desired, tools));
    const noopMs = performance.now() - t;
    starts.noop = runner.starts - s;
    // The two steps the raw tools do not take: reading what is live first, reading it back after.
    t = performance.now();
    await readLive(tools);
    const readMs = performance.now() - t;
    t = performance.now();
    await verify(input.desired, tools);
    const verifyMs = performance.now() - t;
    t = performance.now();
    await (await lock.acquire()).release();
    const lockMs = performance.now() - t;
    if (again.changed) noopWrote = true;
    if (r === 0) continue; // warm-up
    raw.push(rawMs);
    ours.push(oursMs);
    noop.push(noopMs);
    reads.push(readMs);
    verifies.push(verifyMs);
    locks.push(lockMs);
  }
  await flushAll(tools);
  process.stdout.write(`${JSON.stringify({ raw, ours, noop, noopWrote, reads, verifies, locks, starts, bare })}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
