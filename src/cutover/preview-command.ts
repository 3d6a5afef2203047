// The I/O half of `artesca-fw preview`: reads this host's connection tracking
// table (both families) and the peer sets in force, and hands them to the pure
// judge with the compiled ruleset. Reads only: nothing is written.
import { type Desired, desiredHash } from '../compile/desired.js';
import type { Ruleset } from '../compile/ruleset.js';
import { setChange } from '../dataplane/changes.js';
import { quoteTool, type ToolRunner } from '../dataplane/exec.js';
import { readSets } from '../dataplane/live.js';
import { AfwError } from '../errors.js';
import { parseConntrack, type TrackedFlow } from './conntrack-list.js';
import { formatPreview, type PreviewResult, previewFlows } from './preview.js';

async function trackedFlows(runner: ToolRunner): Promise<TrackedFlow[]> {
  const flows: TrackedFlow[] = [];
  for (const family of [4, 6] as const) {
    const res = await runner.run('conntrack', ['-L', '-f', family === 4 ? 'ipv4' : 'ipv6'], { timeoutMs: 120_000 });
    if (res.code !== 0) throw new AfwError('AFW_CONNTRACK_FAILED', `conntrack -L -f ipv${family} failed: ${quoteTool(res)}`);
    flows.push(...parseConntrack(res.stdout, family));
  }
  return flows;
}

export async function previewTracked(
  node: { ruleset: Ruleset; desired: Desired },
  runner: ToolRunner,
): Promise<{ text: string; data: PreviewResult & { judgedAs: 'enforce' }; refused: boolean }> {
  const [flows, liveSets] = await Promise.all([trackedFlows(runner), readSets(runner)]);
  // A peer leaving a peer set has its connections cut by the agent at once.
  const revoked = new Set(setChange(node.desired.sets, liveSets).leaving);
  const result = previewFlows(node.ruleset, flows, { hash: desiredHash(node.desired), revoked });
  return { text: formatPreview(result), data: { ...result, judgedAs: 'enforce' }, refused: result.cuts.length > 0 };
}
