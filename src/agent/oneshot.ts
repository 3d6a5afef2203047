// The one-shot commands (check, plan, apply, flush): each returns the data it
// produced and the text to print; the CLI only prints.
import { countRuleset, describeRuleset } from '../compile/describe.js';
import { desiredHash } from '../compile/desired.js';
import { planText } from '../compile/plan-text.js';
import type { InterfaceOverrides } from '../compile/resolve.js';
import { applyDesired } from '../dataplane/apply.js';
import { type Backend, detectBackend, toolsFor } from '../dataplane/backend.js';
import { flushAll } from '../dataplane/flush.js';
import { AfwError } from '../errors.js';
import { compileNode, requireResolved } from './compile-node.js';
import { loadConfigOnly } from './sources.js';
import { loadState, saveState } from './state-store.js';

export interface CommandResult {
  text: string;
  data: Record<string, unknown>;
}

function requireRoot(what: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new AfwError('AFW_NOT_ROOT', `${what} changes the firewall and needs root (CAP_NET_ADMIN)`);
  }
}

export async function checkCommand(configFile: string, overrides: InterfaceOverrides): Promise<CommandResult> {
  const node = await compileNode(configFile, { overrides });
  requireResolved(node);
  let backend = 'unknown (detecting needs root)';
  if (process.getuid?.() === 0) {
    const d = await detectBackend(node.sources.config.backend);
    backend = `${d.backend} (${d.reason})`;
  } else if (node.sources.config.backend !== 'auto') {
    backend = `${node.sources.config.backend} (set by backend in the config)`;
  }
  const text = describeRuleset(node.ruleset, node.sources.config, node.sources.inventory, backend);
  return {
    text,
    data: {
      ok: true,
      node: node.ruleset.node,
      endpoints: node.ruleset.endpoints,
      policies: node.ruleset.policies,
      counts: countRuleset(node.ruleset),
      backend,
      hash: desiredHash(node.desired),
      summary: text,
    },
  };
}

export async function planCommand(configFile: string, overrides: InterfaceOverrides): Promise<CommandResult> {
  const node = await compileNode(configFile, { overrides });
  requireResolved(node);
  const plan = planText(node.ruleset);
  return {
    text: plan.text.trimEnd(),
    data: { node: node.ruleset.node.name, hash: plan.hash, ipset: plan.ipset, ipv4: plan.ipv4, ipv6: plan.ipv6 },
  };
}

async function chooseBackend(choice: 'auto' | Backend): Promise<Backend> {
  return (await detectBackend(choice)).backend;
}

export async function applyCommand(configFile: string, opts: { fromState?: string }): Promise<CommandResult> {
  requireRoot('apply');
  if (opts.fromState !== undefined) {
    const state = await loadState(opts.fromState);
    const tools = toolsFor(state.backend as Backend);
    const report = await applyDesired(state.desired, tools);
    return {
      text: `${report.changed ? 'loaded' : 'already live:'} last-known-good ruleset ${state.hash} of ${state.node} (saved ${state.savedAt}) on iptables-${tools.backend} in ${report.durationMs.toFixed(0)} ms`,
      data: { ok: true, hash: state.hash, source: 'state', ...report },
    };
  }
  const node = await compileNode(configFile);
  requireResolved(node);
  const tools = toolsFor(await chooseBackend(node.sources.config.backend));
  const report = await applyDesired(node.desired, tools);
  const hash = desiredHash(node.desired);
  await saveState(node.sources.config.stateDir, node.ruleset.node.name, tools.backend, node.desired);
  const counts = countRuleset(node.ruleset);
  const what = report.changed
    ? `applied ruleset ${hash} (${counts.rules} rules, ${counts.sets} sets) on iptables-${tools.backend} in ${report.durationMs.toFixed(0)} ms`
    : `no change: ruleset ${hash} is already live on iptables-${tools.backend} (nothing written)`;
  return { text: what, data: { ok: true, hash, counts, ...report } };
}

export async function flushCommand(configFile: string): Promise<CommandResult> {
  requireRoot('flush');
  // The config only says which backend; a broken config must not stop a flush.
  let choice: 'auto' | Backend = 'auto';
  try {
    choice = (await loadConfigOnly(configFile)).config.backend;
  } catch {
    choice = 'auto';
  }
  const results = [];
  // Flush the chosen backend, and the other one too when it holds our rules.
  const first = await chooseBackend(choice);
  for (const backend of [first, first === 'nft' ? 'legacy' : 'nft'] as Backend[]) {
    try {
      results.push({ backend, ...(await flushAll(toolsFor(backend))) });
    } catch (err) {
      if (backend === first) throw err;
      if (!(err instanceof AfwError && (err.code === 'AFW_TOOL_MISSING' || err.code === 'AFW_IPTABLES_FAILED'))) throw err;
    }
  }
  const chains = results.flatMap((r) => r.chainsRemoved);
  const sets = [...new Set(results.flatMap((r) => r.setsRemoved))];
  return {
    text: `flushed: ${chains.length} chains, ${results.reduce((s, r) => s + r.hooksRemoved, 0)} jump rules and ${sets.length} sets removed; no other rule touched`,
    data: { ok: true, results },
  };
}
