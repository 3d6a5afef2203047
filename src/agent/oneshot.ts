// The one-shot commands (check, plan, apply, flush): each returns the data it
// produced and the text to print; the CLI only prints.
import { countRuleset, describeRuleset } from '../compile/describe.js';
import { desiredHash } from '../compile/desired.js';
import { explain, formatExplanation, type PacketQuery } from '../compile/explain.js';
import { planText } from '../compile/plan-text.js';
import type { InterfaceOverrides } from '../compile/resolve.js';
import { previewTracked } from '../cutover/preview-command.js';
import { rivalAdvice, rivalsAbove } from '../cutover/top-of-chain.js';
import { applyDesired } from '../dataplane/apply.js';
import { type Backend, detectBackend, toolsFor } from '../dataplane/backend.js';
import { diffFamily, diffSets } from '../dataplane/diff-report.js';
import type { ToolRunner } from '../dataplane/exec.js';
import { flushAll } from '../dataplane/flush.js';
import { readFamily, readLive } from '../dataplane/live.js';
import { WriteLock } from '../dataplane/write-lock.js';
import { AfwError } from '../errors.js';
import { compileNode, requireResolved } from './compile-node.js';
import {
  clearPending,
  clearRolledBack,
  confirmPending,
  snapshotAsDesired,
  spawnRollbackWatcher,
  writePending,
} from './confirm.js';
import { findConflicts } from './conflicts.js';
import type { ListedMembership } from './kube-once.js';
import { loadConfigOnly } from './sources.js';
import { writeTextAtomic } from './state-files.js';
import { loadState, saveState } from './state-store.js';

export interface CommandResult {
  text: string;
  data: Record<string, unknown>;
}

function requireRoot(what: string, why = 'changes the firewall'): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new AfwError('AFW_NOT_ROOT', `${what} ${why} and needs root (CAP_NET_ADMIN)`);
  }
}

export async function checkCommand(
  configFile: string,
  overrides: InterfaceOverrides,
  runner: ToolRunner,
): Promise<CommandResult> {
  const node = await compileNode(configFile, { overrides });
  requireResolved(node);
  let backend = 'unknown (detecting needs root)';
  let rivals: ReturnType<typeof rivalsAbove> = [];
  if (process.getuid?.() === 0) {
    const d = await detectBackend(node.sources.config.backend, runner);
    backend = `${d.backend} (${d.reason})`;
    // Reading the tables needs root too: who stands above our jumps (Felix in chainInsertMode Insert).
    const tools = toolsFor(d.backend, runner);
    // Best effort: what cannot be read here is not check's to judge (apply and diff say it).
    rivals = await Promise.all([readFamily(tools, 4), readFamily(tools, 6)]).then(rivalsAbove, () => []);
  } else if (node.sources.config.backend !== 'auto') {
    backend = `${node.sources.config.backend} (set by backend in the config)`;
  }
  const conflicts = await findConflicts(runner);
  const text = [
    describeRuleset(node.ruleset, node.sources.config, node.sources.inventory, backend),
    ...membershipLines(node.sources.listed),
    ...conflicts.map((c) => `WARNING: ${c.message} (${c.evidence}).`),
    ...rivals.map(
      (r) =>
        `WARNING: ${rivalAdvice(r.family, r.table, r.chain, r.otherRule)} (the rule "${r.otherRule}" stands above artesca-fw's jump).`,
    ),
  ].join('\n');
  return {
    text,
    data: {
      ok: true,
      node: node.ruleset.node,
      endpoints: node.ruleset.endpoints,
      policies: node.ruleset.policies,
      counts: countRuleset(node.ruleset),
      backend,
      hash: node.hash,
      conflicts,
      rivals,
      ...(node.sources.listed
        ? {
            membership: {
              server: node.sources.listed.server,
              resourceVersion: node.sources.listed.resourceVersion,
              nodes: node.sources.listed.nodes.length,
              leftOut: node.sources.listed.leftOut,
            },
          }
        : {}),
      summary: text,
    },
  };
}

/** check with inventory.kubernetes: where the membership came from, and who was left out. */
function membershipLines(listed: ListedMembership | undefined): string[] {
  if (!listed) return [];
  return [
    `Membership: ${listed.nodes.length} Node(s) from ${listed.server} (resourceVersion ${listed.resourceVersion}).`,
    ...listed.leftOut.map((l) => `WARNING: Node "${l.node}" left out: ${l.field ? `${l.field}: ` : ''}${l.reason}.`),
  ];
}

export async function planCommand(configFile: string, overrides: InterfaceOverrides): Promise<CommandResult> {
  const node = await compileNode(configFile, { overrides });
  requireResolved(node);
  const plan = planText(node.ruleset, node.hash);
  return {
    text: plan.text.trimEnd(),
    data: { node: node.ruleset.node.name, hash: plan.hash, ipset: plan.ipset, ipv4: plan.ipv4, ipv6: plan.ipv6 },
  };
}

async function chooseBackend(choice: 'auto' | Backend, runner: ToolRunner): Promise<Backend> {
  return (await detectBackend(choice, runner)).backend;
}

/**
 * Every command that writes holds the write lock of this network namespace
 * for its whole transaction; a one-shot command keeps it until it exits (the
 * kernel releases it then), so that what it printed is what is live.
 */
async function takeWriteLock(runner: ToolRunner, command: string): Promise<void> {
  await new WriteLock(runner, command).acquire();
}

export async function applyCommand(
  configFile: string,
  opts: { fromState?: string; confirmSeconds?: number },
  runner: ToolRunner,
): Promise<CommandResult> {
  requireRoot('apply');
  if (opts.fromState !== undefined) {
    // The state is read before the lock: a damaged file is refused without waiting.
    const state = await loadState(opts.fromState);
    await takeWriteLock(runner, 'apply --from-state');
    const tools = toolsFor(state.backend, runner);
    const report = await applyDesired(state.desired, tools);
    return {
      text: `${report.changed ? 'loaded' : 'already live:'} last-known-good ruleset ${state.hash} of ${state.node} (saved ${state.savedAt}) on iptables-${tools.backend} in ${report.durationMs.toFixed(0)} ms`,
      data: { ok: true, hash: state.hash, source: 'state', ...report },
    };
  }
  const node = await compileNode(configFile);
  requireResolved(node);
  const { stateDir } = node.sources.config;
  // Compiled (and refused, if it must be) before waiting for the lock.
  await takeWriteLock(runner, opts.confirmSeconds !== undefined ? 'apply --confirm' : 'apply');
  const tools = toolsFor(await chooseBackend(node.sources.config.backend, runner), runner);
  const hash = node.hash;
  const counts = countRuleset(node.ruleset);
  if (opts.confirmSeconds !== undefined) {
    // Record what is live first: if anything goes wrong from here on, that is what comes back.
    const previous = snapshotAsDesired(await readLive(tools));
    const now = Date.now();
    const pending = {
      createdAt: new Date(now).toISOString(),
      deadline: new Date(now + opts.confirmSeconds * 1000).toISOString(),
      node: node.ruleset.node.name,
      backend: tools.backend,
      tentativeHash: hash,
      tentative: node.desired,
      previousHash: desiredHash(previous),
      previous,
    };
    await writePending(stateDir, pending);
    let report: Awaited<ReturnType<typeof applyDesired>>;
    try {
      report = await applyDesired(node.desired, tools);
    } catch (err) {
      await clearPending(stateDir);
      throw err;
    }
    spawnRollbackWatcher(stateDir);
    return {
      text: `applied ruleset ${hash} (${counts.rules} rules, ${counts.sets} sets) on trial: run "artesca-fw confirm" before ${pending.deadline} (${opts.confirmSeconds} s), or the previous ruleset ${pending.previousHash} comes back`,
      data: { ok: true, hash, counts, pending: { deadline: pending.deadline, previousHash: pending.previousHash }, ...report },
    };
  }
  // An explicit apply settles any earlier trial, before it writes: a running
  // daemon that notices the new rules must not take them for a refused trial.
  await clearPending(stateDir);
  await clearRolledBack(stateDir);
  const report = await applyDesired(node.desired, tools);
  await saveState(stateDir, node.ruleset.node.name, tools.backend, node.desired);
  // By hand, the membership listed now is the new baseline (the daemon's shrink guard included).
  const listed = node.sources.listed;
  if (listed) await writeTextAtomic(node.sources.config.inventoryFile, listed.text(), { dirMode: 0o755, mode: 0o644 });
  const what = report.changed
    ? `applied ruleset ${hash} (${counts.rules} rules, ${counts.sets} sets) on iptables-${tools.backend} in ${report.durationMs.toFixed(0)} ms`
    : `no change: ruleset ${hash} is already live on iptables-${tools.backend} (nothing written)`;
  return { text: what, data: { ok: true, hash, counts, ...report } };
}

export async function confirmCommand(configFile: string, runner: ToolRunner, stateDirOverride?: string): Promise<CommandResult> {
  requireRoot('confirm');
  const stateDir = stateDirOverride ?? (await loadConfigOnly(configFile)).config.stateDir;
  await takeWriteLock(runner, 'confirm');
  const p = await confirmPending(stateDir, runner);
  return {
    text: `confirmed: ruleset ${p.tentativeHash} stays, and is now the last-known-good ruleset`,
    data: { ok: true, hash: p.tentativeHash },
  };
}

export async function diffCommand(configFile: string, runner: ToolRunner): Promise<CommandResult & { equal: boolean }> {
  requireRoot('diff');
  const node = await compileNode(configFile);
  requireResolved(node);
  const tools = toolsFor(await chooseBackend(node.sources.config.backend, runner), runner);
  const live = await readLive(tools);
  const hash = node.hash;
  const lines = [
    ...node.desired.families.flatMap((d) => diffFamily(d, live.families.find((f) => f.family === d.family)!)),
    ...diffSets(node.desired.sets, live.sets),
  ];
  const text = lines.length
    ? lines.map((l) => `${l.kind.padEnd(14)} ${l.where}: ${l.text}`).join('\n')
    : `live equals desired: ruleset ${hash} on iptables-${tools.backend}`;
  return {
    text,
    data: { equal: lines.length === 0, differences: lines, hash },
    equal: lines.length === 0,
  };
}

export async function explainCommand(
  configFile: string,
  q: PacketQuery,
  protoName: string,
  overrides: InterfaceOverrides,
): Promise<CommandResult> {
  const node = await compileNode(configFile, { overrides });
  const e = explain(node.ruleset, q);
  const text = formatExplanation(q, e, protoName);
  return {
    text,
    data: {
      verdict: e.verdict,
      audit: e.audit,
      endpoint: e.endpoint,
      interface: e.interface,
      chain: e.chain,
      position: e.position,
      reason: e.reason,
      origin: e.rule?.origin,
      logged: e.logged,
      text,
    },
  };
}

/** `preview`: the tracked flows the ruleset of `configFile` would refuse (root: it reads conntrack; writes nothing). */
export async function previewCommand(
  configFile: string,
  overrides: InterfaceOverrides,
  runner: ToolRunner,
): Promise<CommandResult & { refused: boolean }> {
  requireRoot('preview', 'reads the connection tracking table');
  const node = await compileNode(configFile, { overrides });
  requireResolved(node);
  const r = await previewTracked(node, runner);
  return { text: r.text, data: { ...r.data }, refused: r.refused };
}

export async function flushCommand(configFile: string, runner: ToolRunner): Promise<CommandResult> {
  requireRoot('flush');
  await takeWriteLock(runner, 'flush');
  // The config only says which backend; a broken config must not stop a flush.
  let choice: 'auto' | Backend = 'auto';
  try {
    choice = (await loadConfigOnly(configFile)).config.backend;
  } catch {
    choice = 'auto';
  }
  const results = [];
  // Flush the chosen backend, and the other one too when it holds our rules.
  const first = await chooseBackend(choice, runner);
  for (const backend of [first, first === 'nft' ? 'legacy' : 'nft'] as Backend[]) {
    try {
      results.push({ backend, ...(await flushAll(toolsFor(backend, runner))) });
    } catch (err) {
      if (backend === first) throw err;
      if (!(err instanceof AfwError && (err.code === 'AFW_TOOL_MISSING' || err.code === 'AFW_IPTABLES_FAILED'))) throw err;
    }
  }
  const chains = results.flatMap((r) => r.chainsRemoved);
  const sets = [...new Set(results.flatMap((r) => r.setsRemoved))];
  return {
    text: `flushed: ${chains.length} chains, ${results.reduce((s, r) => s + r.jumpsRemoved, 0)} jump rules and ${sets.length} sets removed; no other rule touched`,
    data: { ok: true, results },
  };
}
