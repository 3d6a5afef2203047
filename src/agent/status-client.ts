// `artesca-fw status`: asks a running agent and prints a summary.
import { AfwError } from '../errors.js';
import type { KubernetesStatus } from './kube-membership.js';
import type { CommandResult } from './oneshot.js';
import type { AgentStatus } from './reconciler.js';
import { loadConfigOnly } from './sources.js';

type Status = Omit<AgentStatus, 'inventory'> & {
  inventory: (NonNullable<AgentStatus['inventory']> & { kubernetes?: KubernetesStatus }) | null;
  ready: { ready: boolean; reason: string };
  version: string;
  startedAt: string;
  /** The daemon's verify runs (verify.intervalSeconds). */
  verify?: { intervalSeconds: number; last: null | { at: string; probes: number; mismatches: number; error?: string } };
  /** In audit mode: chains where another rule stands above our jump. */
  auditHidden?: { message: string }[];
  denied?: {
    wouldOnly: boolean;
    packets: number;
    byDecision: { endpoint: string; direction: string; policy: string; family: string; packets: number }[];
    /** The record of denied flows (src/denied/). */
    record?: boolean;
    flows?: number;
    overflow?: number;
    cleanSince?: string | null;
    reader?: { state: string; error: string | null };
    loadError?: string | null;
  };
};

export async function statusUrl(configFile: string, explicit?: string): Promise<string> {
  if (explicit) return explicit.replace(/\/+$/, '');
  try {
    const { host, port } = (await loadConfigOnly(configFile)).config.status;
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  } catch {
    return 'http://127.0.0.1:9900';
  }
}

export function formatStatus(s: Status): string {
  const lines: string[] = [];
  lines.push(
    `${s.node.name || '(unknown node)'} [${s.node.roles.join(', ') || 'no role'}]  mode ${s.mode || '?'}  backend ${s.backend ?? '?'}  ${s.ready.ready ? 'READY' : `NOT READY: ${s.ready.reason}`}`,
  );
  for (const e of s.endpoints)
    lines.push(`  endpoint ${e.id}: ${e.planes.join('+')} on ${e.interface} (${e.addresses.join(', ') || 'no address'})`);
  for (const u of s.unresolved) lines.push(`  waiting: ${u.plane}: ${u.reason}`);
  if (s.ruleset) {
    lines.push(
      `  ruleset ${s.ruleset.hash} (${s.ruleset.source}) applied ${s.ruleset.appliedAt}: ${s.ruleset.rules} rules, ${s.ruleset.sets} sets, ${s.ruleset.setMembers} set members`,
    );
  } else lines.push('  no ruleset loaded');
  if (s.inventory?.file) {
    lines.push(
      `  inventory (${s.inventory.source ?? 'file'}) ${s.inventory.file}: ${s.inventory.nodes} nodes, read ${s.inventory.loadedAt}`,
    );
  }
  const k = s.inventory?.kubernetes;
  if (k) {
    const state = !k.synced ? 'NOT SYNCED' : k.stale ? `STALE since ${k.staleSince}` : 'watching';
    lines.push(
      `  kubernetes ${k.server ?? '?'}: ${state}; resourceVersion ${k.resourceVersion ?? '-'}, last event ${k.lastEventAt ?? 'none'}, ${k.lists} list(s), ${k.watches} watch(es)`,
    );
    for (const l of k.leftOut) lines.push(`  WARNING: Node "${l.node}" left out: ${l.field ? `${l.field}: ` : ''}${l.reason}`);
    if (k.refused) lines.push(`  REFUSED at ${k.refused.at}: ${k.refused.reason}`);
    if (k.lastError && k.stale) lines.push(`  API server error at ${k.lastError.at}: ${k.lastError.message}`);
  }
  lines.push(
    `  drift repairs ${s.driftRepairs}; last reconcile: ${s.lastReconcile ? `${s.lastReconcile.result} (${s.lastReconcile.reason}) at ${s.lastReconcile.at}` : 'none'}`,
  );
  if (s.pendingConfirmation)
    lines.push(
      `  trial: ruleset ${s.pendingConfirmation.hash} awaits "artesca-fw confirm" until ${s.pendingConfirmation.deadline}`,
    );
  if (s.denied) {
    const top = s.denied.byDecision
      .filter((d) => d.packets > 0)
      .map((d) => `${d.endpoint} ${d.direction} ${d.policy} (${d.family}): ${d.packets}`);
    lines.push(
      `  ${s.denied.wouldOnly ? 'would deny (audit)' : 'denied'}: ${s.denied.packets} packets${top.length ? ` - ${top.join('; ')}` : ''}`,
    );
    const d = s.denied;
    if (d.record === false) lines.push('  record of denied flows: off (denied.record: false)');
    else if (d.flows !== undefined) {
      lines.push(
        `  record of denied flows: ${d.flows} flow(s)${d.overflow ? `, ${d.overflow} in overflow` : ''}; clean since ${d.cleanSince ?? '- (refused within the last minute)'} (artesca-fw denied)`,
      );
      if (d.reader && d.reader.state !== 'reading') {
        lines.push(`  WARNING: the NFLOG reader is ${d.reader.state}${d.reader.error ? `: ${d.reader.error}` : ''}`);
      }
      if (d.loadError) lines.push(`  WARNING: ${d.loadError}`);
    }
  }
  const v = s.verify;
  if (v && v.intervalSeconds > 0) {
    const last = v.last;
    lines.push(
      `  verify every ${v.intervalSeconds} s: ${!last ? 'not run yet' : last.error ? `could not run at ${last.at}: ${last.error}` : `${last.probes} probes at ${last.at}, ${last.mismatches} mismatch(es)`}`,
    );
    if (last && last.mismatches > 0)
      lines.push(
        `  WARNING: verify found ${last.mismatches} probe(s) that did not answer as the policies say (artesca-fw verify)`,
      );
  }
  if (s.retry) lines.push(`  load failed ${s.retry.failures} time(s) in a row; next attempt at ${s.retry.nextAt}`);
  for (const c of s.conflicts ?? []) lines.push(`  WARNING: ${c.message} (${c.evidence})`);
  for (const h of s.auditHidden ?? []) lines.push(`  WARNING: ${h.message}`);
  if (s.lastError) {
    lines.push(`  last error ${s.lastError.code} at ${s.lastError.at}:`);
    for (const p of s.lastError.problems) lines.push(`    ${p}`);
  }
  lines.push(`  artesca-fw ${s.version}, running since ${s.startedAt}`);
  return lines.join('\n');
}

export async function statusCommand(configFile: string, url?: string): Promise<CommandResult> {
  const base = await statusUrl(configFile, url);
  let body: Status;
  try {
    const res = await fetch(`${base}/status`, { signal: AbortSignal.timeout(3000) });
    body = (await res.json()) as Status;
  } catch (err) {
    throw new AfwError('AFW_DAEMON_UNREACHABLE', `no agent answers at ${base}/status: ${(err as Error).message}`, { cause: err });
  }
  return { text: formatStatus(body), data: body as unknown as Record<string, unknown> };
}
