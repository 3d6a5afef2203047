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
import { PLANES, VIP_KEY } from '../config/model.js';
import { parseInventory } from '../config/validate-inventory.js';
import { AfwError } from '../errors.js';
import { type Check, judgeVip, type Origin, planChecks, type VipCheck } from './plan.js';
import { inParallel, NO_ANSWER, type ProbeResult, probeTcp, probeUdp } from './probe.js';
import { formatReport, type NotJudged, type Result, type VerifyReport } from './report.js';
import { retrySilentUdp } from './udp-retry.js';
import { holderOf, neighbourTable } from './vip-holder.js';

export interface VerifyOptions {
  outside?: boolean;
  inventory?: string;
  /** ms each probe waits for an answer. */
  timeoutMs?: number;
  /** Probes in flight at once. */
  parallel?: number;
  /** No progress on the terminal (the daemon's runs). */
  quiet?: boolean;
  /** Only these peers (node names, plane addresses or VIPs); all when empty. */
  peers?: string[];
  /** The daemon's membership from Kubernetes (a command lists the Nodes once instead). */
  membership?: SourceOptions['membership'];
}

export const DEFAULT_TIMEOUT_MS = 1000;
export const DEFAULT_PARALLEL = 256;

/** Every address of this machine but loopback and link-local. */
function machineAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((a): a is os.NetworkInterfaceInfo => !!a && !a.internal && !(a.family === 'IPv6' && a.address.startsWith('fe80')))
    .map((a) => a.address);
}

/** This machine's addresses on each plane (in the plane's networks), or, outside them, its first address of each family. */
function localAddresses(config: Config, all: string[]): Record<Plane, string[]> {
  const out = {} as Record<Plane, string[]>;
  for (const plane of PLANES) {
    const cidrs = config.networks[plane].cidrs.map((c) => parseCidr(c).cidr!).filter(Boolean);
    const inPlane = all.filter((a) => cidrs.some((c) => inCidr(a, c)));
    const first = (f: 4 | 6) => all.find((a) => addressFacts(a)?.family === f);
    out[plane] = inPlane.length ? inPlane : ([first(4), first(6)].filter(Boolean) as string[]);
  }
  return out;
}

/**
 * The probes `--peer` keeps: a node name keeps all of that node's, an address
 * (plane address or VIP) only those to it. A value that names nothing in the
 * membership or the VIPs is a usage error naming it.
 */
function selectPeers(wanted: string[], inventory: Inventory, config: Config): (c: { node: string; address: string }) => boolean {
  if (!wanted.length) return () => true;
  const names = new Set(inventory.nodes.map((n) => n.name));
  const addresses = new Set<string>([
    ...inventory.nodes.flatMap((n) => PLANES.flatMap((p) => n.addresses[p])),
    ...config.virtualIPs.management,
    ...config.virtualIPs.data,
  ]);
  const byName = new Set<string>();
  const byAddress = new Set<string>();
  for (const w of wanted) {
    if (names.has(w)) byName.add(w);
    else {
      const text = addressFacts(w)?.text;
      if (text && addresses.has(text)) byAddress.add(text);
      else
        throw new AfwError(
          'AFW_USAGE',
          `--peer ${w}: ${text ? 'no member has this address and it is no VIP' : 'no member has this name'} (the membership: ${inventory.nodes.length} node(s), e.g. ${inventory.nodes
            .slice(0, 3)
            .map((n) => `${n.name} ${n.addresses.controlPlane[0] ?? n.addresses.workloadPlane[0] ?? ''}`.trim())
            .join(', ')})`,
        );
    }
  }
  return (c) => byName.has(c.node) || byAddress.has(c.address);
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
  // This machine's addresses: where the probes leave from (outside), and which VIPs are here.
  const mine = machineAddresses();
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
    origin = { kind: 'outside', addresses: localAddresses(config, mine) };
  } else {
    const sources = await loadSources(configFile, o.membership ? { membership: o.membership } : {});
    config = sources.config;
    inventory = sources.inventory;
    const self = inventory.nodes.find((n) => n.name === config.node.name)!;
    origin = { kind: 'member', name: self.name, addresses: self.addresses };
  }
  const localVips = new Set(mine); // only VIPs among them matter
  const keep = selectPeers(o.peers ?? [], inventory, config);
  const plan = planChecks(config, inventory, origin, localVips);
  const checks = plan.checks.filter(keep);
  const vipChecks = plan.vipChecks.filter((v) => keep({ node: '', address: v.address }));
  const probes: (Check | VipCheck)[] = [...checks, ...vipChecks];
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const progress = !o.quiet && process.stderr.isTTY && probes.length > 50;
  const probe = (i: number) => {
    const c = probes[i]!;
    const local = origin.addresses[c.plane].find((a) => addressFacts(a)?.family === addressFacts(c.address)?.family);
    return (c.proto === 'udp' ? probeUdp : probeTcp)(c.address, c.port, timeoutMs, local);
  };
  // UDP first: their ICMP answers come before the peers' refusals of TCP probes spend the ICMP rate limit.
  const order = probes.map((_, i) => i).sort((a, b) => Number(probes[a]!.proto !== 'udp') - Number(probes[b]!.proto !== 'udp'));
  const answers: ProbeResult[] = new Array(probes.length);
  await inParallel(
    order,
    o.parallel ?? DEFAULT_PARALLEL,
    async (i) => {
      answers[i] = await probe(i);
    },
    progress ? (done) => process.stderr.write(`\rverify: ${done}/${probes.length} probes`) : undefined,
  );
  if (progress) process.stderr.write('\n');
  await retrySilentUdp(
    probes.map((c) => ({
      proto: c.proto,
      plane: c.plane,
      target: 'node' in c ? c.node : c.address,
      answerDue: 'candidates' in c ? c.candidates.some((x) => x.expected === 'reached') : c.expected === 'reached',
    })),
    answers,
    probe,
  );
  const results: Result[] = [];
  const notJudged: NotJudged[] = [];
  const judge = (c: Check, answer: ProbeResult) => {
    // Silence from UDP is what a filtered datagram and a service that ignores it both give.
    if (c.proto === 'udp' && c.expected === 'reached' && answer.seen === NO_ANSWER)
      notJudged.push({
        ...c,
        actual: answer.answer,
        seen: answer.seen,
        why: 'no answer: filtered, or a service that ignores the probe',
      });
    else results.push({ ...c, actual: answer.answer, seen: answer.seen });
  };
  for (const [i, c] of checks.entries()) judge(c, answers[i]!);
  // The probes filled the neighbour table: now it can say where each VIP lives.
  const vips: VerifyReport['vips'] = [];
  if (vipChecks.length) {
    const { table, error } = await neighbourTable();
    const self = origin.kind === 'member' ? origin.name : undefined;
    const holders = new Map<string, ReturnType<typeof holderOf>>();
    for (const v of vipChecks) {
      if (!holders.has(v.address)) {
        const h = error ? { how: error } : holderOf(v.address, v.plane, inventory, self, table);
        holders.set(v.address, h);
        vips.push({ address: v.address, plane: v.plane, holder: h.node ?? null, how: h.how });
      }
    }
    vipChecks.forEach((v, i) => {
      const answer = answers[checks.length + i]!;
      const judged = judgeVip(v, holders.get(v.address)!.node);
      if (judged) judge(judged, answer);
      else {
        const { candidates: _, ...rest } = v;
        notJudged.push({
          ...rest,
          node: '(holder unknown)',
          vip: true,
          actual: answer.answer,
          seen: answer.seen,
          why: 'the holder of the VIP is unknown and the members would answer differently',
        });
      }
    });
  }
  const skipped = [...plan.skipped];
  for (const v of localVips) {
    const plane = PLANES.find((p) => config.virtualIPs[VIP_KEY[p]].includes(v));
    if (plane && keep({ node: '', address: v })) {
      vips.push({ address: v, plane, holder: origin.kind === 'member' ? origin.name : null, how: 'on this machine: not probed' });
      skipped.push({
        plane,
        proto: 'any',
        port: null,
        address: v,
        why: 'a VIP on this machine: a probe would not cross a plane interface',
      });
    }
  }
  const mismatches = results.filter((r) => r.actual !== r.expected);
  return {
    from: origin.kind === 'member' ? `${origin.name} (member)` : `outside (${Object.values(origin.addresses).flat().join(', ')})`,
    probes: results.length + notJudged.length,
    asExpected: results.length - mismatches.length,
    mismatches,
    notJudged,
    notProbed: skipped.length,
    skipped,
    vips,
    results,
  };
}
