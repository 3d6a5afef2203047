// A membership delta into the kernel: the members to add and delete, in one
// `ipset restore`, with nothing read first. It is verified by the kernel's
// answer to each line: without -exist, adding a member already there or
// deleting one that is not fails, so a set that is not what the agent holds
// (someone changed it) is refused at its first differing member; what went
// in before that is taken out again, and the caller reconciles the whole
// ruleset instead. The cost does not grow with the cluster: a line per
// changed member, one process. The drift check stays the backstop.
import type { DesiredDelta, MemberEdit } from '../compile/desired-delta.js';
import { asAfwError } from '../errors.js';
import type { ApplyReport } from './apply.js';
import type { Tools } from './backend.js';
import { ipsetEach } from './restore.js';

const line = (e: MemberEdit) => `${e.op} ${e.set} ${e.member}`;

export async function applyDelta(delta: DesiredDelta, tools: Tools): Promise<ApplyReport> {
  const started = performance.now();
  const done: MemberEdit[] = [];
  try {
    await ipsetEach(tools.runner, delta.edits, line, done, 'ipset add/del (membership delta)');
  } catch (err) {
    const undo = done.map((e): MemberEdit => ({ ...e, op: e.op === 'add' ? 'del' : 'add' })).reverse();
    await ipsetEach(tools.runner, undo, line, [], 'ipset add/del (undoing a refused delta)').catch(() => undefined);
    throw asAfwError(err);
  }
  const durationMs = performance.now() - started;
  return {
    changed: delta.edits.length > 0,
    backend: tools.backend,
    durationMs,
    steps: { read: 0, write: durationMs, verify: 0, cleanup: 0 },
    chainsRewritten: [],
    chainsRemoved: [],
    jumpsInserted: 0,
    jumpsDeleted: 0,
    setsCreated: [],
    setsUpdated: [...new Set(delta.edits.map((e) => e.set))].sort(),
    setsRemoved: [],
    removedPeers: delta.leaving,
    connectionsCut: 0,
    via: 'delta',
  };
}
