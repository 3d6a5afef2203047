// Load + resolve + compile for this node: the shared first half of check,
// plan, apply and the daemon's reconcile.
import { compile } from '../compile/compile.js';
import { type Desired, toDesired } from '../compile/desired.js';
import type { HostInterface, InterfaceOverrides } from '../compile/resolve.js';
import type { Ruleset } from '../compile/ruleset.js';
import type { Plane } from '../config/model.js';
import { locate } from '../config/yaml-source.js';
import { AfwError } from '../errors.js';
import { hostInterfaces, loadSources, type SourceOptions, type Sources } from './sources.js';

export interface CompiledNode {
  sources: Sources;
  ruleset: Ruleset;
  desired: Desired;
}

export async function compileNode(
  configFile: string,
  opts: { overrides?: InterfaceOverrides; interfaces?: HostInterface[] } & SourceOptions = {},
): Promise<CompiledNode> {
  const sources = await loadSources(configFile, opts);
  const ruleset = compile({
    config: sources.config,
    inventory: sources.inventory,
    interfaces: opts.interfaces ?? hostInterfaces(),
    overrides: opts.overrides ?? {},
  });
  return { sources, ruleset, desired: toDesired(ruleset) };
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
