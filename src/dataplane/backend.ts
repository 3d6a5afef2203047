// iptables-legacy and iptables-nft are different tables in the kernel: rules
// written to the one kubelet does not use exist and do nothing. Detection
// follows kube-proxy's iptables-wrapper: kubelet's hint chains first, then
// whichever backend holds more rules; nft when there is nothing to go by.
import type { BackendChoice, Family } from '../config/model.js';
import { AfwError } from '../errors.js';
import type { ToolRunner } from './exec.js';

export type Backend = 'legacy' | 'nft';

export interface Tools {
  backend: Backend;
  /** Starts every tool of this backend (and ipset, conntrack beside it). */
  runner: ToolRunner;
  save(family: Family): string;
  restore(family: Family): string;
}

export function toolsFor(backend: Backend, runner: ToolRunner): Tools {
  return {
    backend,
    runner,
    save: (f) => `${f === 4 ? 'iptables' : 'ip6tables'}-${backend}-save`,
    restore: (f) => `${f === 4 ? 'iptables' : 'ip6tables'}-${backend}-restore`,
  };
}

export interface Detection {
  backend: Backend;
  reason: string;
}

const HINT_CHAINS = /^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY) /m;

async function saveOrEmpty(runner: ToolRunner, cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const res = await runner.run(cmd, args, { timeoutMs: 10_000 });
    return res.code === 0 ? res.stdout : undefined;
  } catch (err) {
    if (err instanceof AfwError && err.code === 'AFW_TOOL_MISSING') return undefined;
    throw err;
  }
}

function countRules(text: string | undefined): number {
  if (!text) return 0;
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith('-A ')) n++;
  return n;
}

export async function detectBackend(choice: BackendChoice, runner: ToolRunner): Promise<Detection> {
  if (choice !== 'auto') return { backend: choice, reason: 'set by backend in the config' };
  const texts: Record<Backend, string[]> = { nft: [], legacy: [] };
  let available = 0;
  for (const backend of ['nft', 'legacy'] as Backend[]) {
    for (const family of [4, 6] as Family[]) {
      // No -t: list only the tables that exist, so that detection itself
      // creates no legacy table in the kernel.
      const text = await saveOrEmpty(runner, toolsFor(backend, runner).save(family), []);
      if (text !== undefined) {
        available++;
        texts[backend].push(text);
      }
    }
  }
  if (available === 0) {
    throw new AfwError(
      'AFW_TOOL_MISSING',
      'neither iptables-nft-save nor iptables-legacy-save runs: install iptables (and run as root)',
    );
  }
  for (const backend of ['nft', 'legacy'] as Backend[]) {
    if (texts[backend].some((t) => HINT_CHAINS.test(t))) {
      return { backend, reason: `kubelet's KUBE-IPTABLES-HINT / KUBE-KUBELET-CANARY chain is in iptables-${backend}` };
    }
  }
  const nft = texts.nft.reduce((s, t) => s + countRules(t), 0);
  const legacy = texts.legacy.reduce((s, t) => s + countRules(t), 0);
  if (legacy > nft) return { backend: 'legacy', reason: `iptables-legacy holds more rules (${legacy} against ${nft})` };
  if (texts.nft.length === 0) return { backend: 'legacy', reason: 'iptables-nft is not installed' };
  return {
    backend: 'nft',
    reason: nft > 0 ? `iptables-nft holds more rules (${nft} against ${legacy})` : 'no rules anywhere: nft, the default',
  };
}
