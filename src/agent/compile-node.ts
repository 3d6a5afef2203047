// Load + resolve + compile for this node: the shared first half of check,
// plan, apply and the daemon's reconcile.
import { compile } from '../compile/compile.js';
import { type Desired, desiredHash, type SetTextMemo, toDesired } from '../compile/desired.js';
import type { PeerSetsMemo } from '../compile/peer-sets.js';
import type { HostInterface, InterfaceOverrides } from '../compile/resolve.js';
import type { Ruleset } from '../compile/ruleset.js';
import type { Plane } from '../config/model.js';
import { locate } from '../config/yaml-source.js';
import { AfwError } from '../errors.js';
import {
  hostInterfaces,
  interfaceSignature,
  loadSources,
  type SourceOptions,
  type Sources,
  type SourcesMemo,
} from './sources.js';

export interface CompiledNode {
  sources: Sources;
  ruleset: Ruleset;
  desired: Desired;
  /** desiredHash(desired): the ruleset's identity in the status, the log and the state file. */
  hash: string;
}

/**
 * The daemon's memory of its last compile: the same sources (memo.sources
 * gives the very object again when nothing moved) against the same interfaces
 * compile to the same ruleset, which is given again. Owned by the caller.
 */
export interface CompileMemo {
  sources: SourcesMemo;
  last: { sources: Sources; interfaces: string; node: CompiledNode } | null;
  /** The last compile's plane sets: other sources update them (a Node event moves a few members). */
  sets: PeerSetsMemo;
  /** The JSON text of the sets in force, for the hash: a set that did not change is not written out again. */
  setTexts: SetTextMemo;
}

export function newCompileMemo(): CompileMemo {
  return {
    sources: { last: null, cluster: { key: '', inside: new WeakSet() } },
    last: null,
    sets: { last: null },
    setTexts: new WeakMap(),
  };
}

export async function compileNode(
  configFile: string,
  opts: { overrides?: InterfaceOverrides; interfaces?: HostInterface[]; compileMemo?: CompileMemo } & SourceOptions = {},
): Promise<CompiledNode> {
  // Interface overrides (a preview for another machine) are never kept.
  const memo = opts.overrides ? undefined : opts.compileMemo;
  const sources = await loadSources(configFile, memo ? { ...opts, memo: memo.sources } : opts);
  const interfaces = opts.interfaces ?? hostInterfaces();
  const signature = memo ? interfaceSignature(interfaces) : '';
  if (memo?.last && memo.last.sources === sources && memo.last.interfaces === signature) return memo.last.node;
  const ruleset = compile({
    config: sources.config,
    inventory: sources.inventory,
    interfaces,
    overrides: opts.overrides ?? {},
    ...(memo ? { setsMemo: memo.sets } : {}),
  });
  const desired = toDesired(ruleset);
  const node = { sources, ruleset, desired, hash: desiredHash(desired, memo?.setTexts) };
  if (memo) memo.last = { sources, interfaces: signature, node };
  return node;
}

/** One-shot commands refuse to load a ruleset with a plane left unenforced (the daemon waits instead). */
export function requireResolved(node: CompiledNode): void {
  if (node.ruleset.unresolved.length === 0) return;
  const src = node.sources.loadedConfig.source;
  const problems = node.ruleset.unresolved.map((u) => {
    const net = node.sources.config.networks[u.plane];
    const field = net.interface !== undefined ? 'interface' : 'cidr';
    return { message: u.reason, where: locate(src, ['networks', u.plane, field]) };
  });
  throw new AfwError('AFW_INTERFACE_UNRESOLVED', 'a plane has no local interface', { problems });
}

/** Parses `--iface controlPlane=eth0` values. */
export function parseOverrides(values: string[] | undefined): InterfaceOverrides {
  const out: InterfaceOverrides = {};
  for (const v of values ?? []) {
    const m = /^(controlPlane|workloadPlane)=([A-Za-z0-9_.-]{1,15})$/.exec(v);
    if (!m) throw new AfwError('AFW_USAGE', `--iface ${v}: expected controlPlane=IFNAME or workloadPlane=IFNAME`);
    out[m[1] as Plane] = m[2]!;
  }
  return out;
}
