// `artesca-fw verify [--outside --inventory FILE] [--json]`: probes every
// peer from here and compares what answers with what the policies decide
// (plan.ts). No root needed: plain TCP connections. Exit 0 when every probe
// answered as expected, 1 otherwise.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import type { CommandResult } from '../agent/oneshot.js';
import { loadConfigOnly, loadSources, type SourceOptions } from '../agent/sources.js';
import { addressFacts, inCidr, parseCidr } from '../config/addresses.js';
import type { Config, Inventory, Plane } from '../config/model.js';
import { PLANES } from '../config/model.js';
import { parseInventory } from '../config/validate-inventory.js';
import { AfwError } from '../errors.js';
import { effectivePolicies } from '../policy/effective.js';
import { type Origin, planChecks } from './plan.js';
import { inParallel, probeTcp } from './probe.js';
import { formatReport, type Result, type VerifyReport } from './report.js';

export interface VerifyOptions {
  outside?: boolean;
  inventory?: string;
  /** ms each probe waits for an answer. */
  timeoutMs?: number;
  /** Probes in flight at once. */
  parallel?: number;
  /** No progress on the terminal (the daemon's runs). */
  quiet?: boolean;
  /** The daemon's membership from Kubernetes (a command lists the Nodes once instead). */
  membership?: SourceOptions['membership'];
}

export const DEFAULT_TIMEOUT_MS = 1000;
export const DEFAULT_PARALLEL = 256;

/** This machine's addresses on each plane (in the plane's networks), or, outside them, its first address of each family. */
function localAddresses(config: Config): Record<Plane, string[]> {
  const all = Object.values(os.networkInterfaces())
    .flat()
    .filter((a): a is os.NetworkInterfaceInfo => !!a && !a.internal && !(a.family === 'IPv6' && a.address.startsWith('fe80')))
    .map((a) => a.address);
  const out = {} as Record<Plane, string[]>;
  for (const plane of PLANES) {
    const cidrs = config.networks[plane].cidrs.map((c) => parseCidr(c).cidr!).filter(Boolean);
    const inPlane = all.filter((a) => cidrs.some((c) => inCidr(a, c)));
    const first = (f: 4 | 6) => all.find((a) => addressFacts(a)?.family === f);
    out[plane] = inPlane.length ? inPlane : ([first(4), first(6)].filter(Boolean) as string[]);
  }
  return out;
}

/** UDP ports the policies name per plane: listed as not probed. */
function udpPorts(config: Config): { proto: string; port: number; plane: Plane }[] {
  const out = new Map<string, { proto: string; port: number; plane: Plane }>();
  for (const p of effectivePolicies(config.policies)) {
    for (const r of p.ingress) {
      if (r.protocol?.number !== 17) continue;
      for (const range of r.ports ?? [])
        out.set(`${p.appliesTo.plane}/${range.from}`, { proto: 'udp', port: range.from, plane: p.appliesTo.plane });
    }
  }
  return [...out.values()];
}

export async function verifyCommand(configFile: string, o: VerifyOptions): Promise<CommandResult & { ok: boolean }> {
  const report = await runVerify(configFile, o);
  return {
    text: formatReport(report),
    data: report as unknown as Record<string, unknown>,
    ok: report.mismatches.length === 0,
  };
}

/** Plans, probes and compares: the report (the command's and the daemon's). */
export async function runVerify(configFile: string, o: VerifyOptions): Promise<VerifyReport> {
  let config: Config;
  let origin: Origin;
  let inventory: Inventory;
  if (o.outside) {
    if (!o.inventory) throw new AfwError('AFW_USAGE', '--outside needs --inventory FILE (the membership to probe)');
    config = (await loadConfigOnly(configFile)).config;
    let text: string;
    try {
      text = await readFile(o.inventory, 'utf8');
    } catch (err) {
      throw new AfwError('AFW_FILE_READ', `${o.inventory}: cannot read the inventory: ${(err as Error).message}`, { cause: err });
    }
    inventory = parseInventory(text, o.inventory).inventory;
    origin = { kind: 'outside', addresses: localAddresses(config) };
  } else {
    const sources = await loadSources(configFile, o.membership ? { membership: o.membership } : {});
    config = sources.config;
    inventory = sources.inventory;
    const self = inventory.nodes.find((n) => n.name === config.node.name)!;
    origin = { kind: 'member', name: self.name, addresses: self.addresses };
  }
  const checks = planChecks(config, inventory, origin);
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const progress = !o.quiet && process.stderr.isTTY && checks.length > 50;
  const answers = await inParallel(
    checks,
    o.parallel ?? DEFAULT_PARALLEL,
    (c) => {
      const local = origin.addresses[c.plane].find((a) => addressFacts(a)?.family === addressFacts(c.address)?.family);
      return probeTcp(c.address, c.port, timeoutMs, local);
    },
    progress ? (done) => process.stderr.write(`\rverify: ${done}/${checks.length} probes`) : undefined,
  );
  if (progress) process.stderr.write('\n');
  const results: Result[] = checks.map((c, i) => ({ ...c, actual: answers[i]!.answer, seen: answers[i]!.seen }));
  const mismatches = results.filter((r) => r.actual !== r.expected);
  return {
    from: origin.kind === 'member' ? `${origin.name} (member)` : `outside (${Object.values(origin.addresses).flat().join(', ')})`,
    probes: results.length,
    asExpected: results.length - mismatches.length,
    mismatches,
    notProbed: udpPorts(config),
    results,
  };
}
