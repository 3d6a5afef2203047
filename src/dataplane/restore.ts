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
