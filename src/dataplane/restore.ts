// The two writers: a batch into ipset, a batch into one family's tables. Both
// count anything on stderr as a failure (iptables-nft can complain and still
// exit 0).
import type { Family } from '../config/model.js';
import { AfwError } from '../errors.js';
import type { Tools } from './backend.js';
import { quoteTool, type ToolRunner } from './exec.js';

export async function ipsetRestore(runner: ToolRunner, batch: string, step: string): Promise<void> {
  if (!batch) return;
  const res = await runner.run('ipset', ['restore'], { input: batch });
  if (res.code !== 0 || res.stderr.trim() !== '') {
    throw new AfwError('AFW_IPSET_FAILED', `${step} failed: ${quoteTool(res)}`, { step });
  }
}

export async function iptablesRestore(tools: Tools, family: Family, batch: string): Promise<void> {
  if (!batch) return;
  const cmd = tools.restore(family);
  const res = await tools.runner.run(cmd, ['--noflush', '--wait'], { input: batch });
  if (res.code !== 0 || res.stderr.trim() !== '') {
    throw new AfwError('AFW_IPTABLES_FAILED', `${cmd} --noflush failed: ${quoteTool(res)}`, { step: `${cmd} (IPv${family})` });
  }
}

/**
 * One `ipset restore` of a line per item; `done` gets the items the kernel
 * took (all, or those before the line it refused), so that a caller can undo them.
 */
export async function ipsetEach<T>(
  runner: ToolRunner,
  items: T[],
  line: (item: T) => string,
  done: T[],
  step: string,
): Promise<void> {
  if (items.length === 0) return;
  const res = await runner.run('ipset', ['restore'], { input: `${items.map(line).join('\n')}\n` });
  if (res.code === 0 && res.stderr.trim() === '') {
    done.push(...items);
    return;
  }
  const failedAt = Number(/Error in line (\d+)/.exec(res.stderr)?.[1] ?? '1');
  done.push(...items.slice(0, Math.max(0, failedAt - 1)));
  throw new AfwError('AFW_IPSET_FAILED', `${step} failed: ${quoteTool(res)}`, { step });
}
