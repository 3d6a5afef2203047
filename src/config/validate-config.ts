// config.yaml text -> Config, or an AfwError listing every problem with its
// file, line and field. Pure: the caller reads the file and passes the host name.
import path from 'node:path';
import { AfwError, type Problem } from '../errors.js';
import { cidrContains, type ParsedCidr, parseAddress, parseCidr } from './addresses.js';
import { FAILSAFE_PRESETS, type FailsafePreset } from './failsafe-presets.js';
import { parseListen } from './listen-address.js';
import { parseMetricsListen } from './metrics-listen.js';
import type { Config, FailsafeEntry, KubernetesSource, NodeIpSource, Plane, PlaneNetwork, Policy } from './model.js';
import { PLANES, VIP_KEY } from './model.js';
import { configSchema, type RawConfig, type RawKubernetes } from './schema.js';
import { parsePolicy, parsePort, type Report } from './validate-policy.js';
import { type FieldPath, parseYaml, problemAt, type YamlSource } from './yaml-source.js';
import { zodProblems } from './zod-problems.js';

export const DEFAULTS = {
  mode: 'enforce',
  denyAction: 'drop',
  logDrops: true,
  icmp: 'essential',
  failsafeInbound: ['udp:68'],
  failsafeOutbound: [] as string[],
  statusListen: '127.0.0.1:9900',
  stateDir: '/var/lib/artesca-fw',
  denied: { record: true, maxFlows: 10_000, nflogGroup: 9900, packetsPerSecond: 2000 },
  inventoryFile: 'inventory.yaml',
  backend: 'auto',
  kubernetes: {
    roleLabelPrefix: 'node-role.kubernetes.io/',
    controlPlaneIP: { kind: 'addressType', type: 'InternalIP' } as NodeIpSource,
    workloadPlaneIP: { kind: 'annotation', key: 'projectcalico.org/IPv4Address' } as NodeIpSource,
    maxShrink: 0.5,
    watchTimeoutSeconds: 300,
  },
} as const;

/** Node address types that carry an IP (Hostname, InternalDNS and ExternalDNS carry names). */
const IP_ADDRESS_TYPES = ['InternalIP', 'ExternalIP'];
/** A label or annotation key: an optional DNS-subdomain prefix and "/", then a name (Kubernetes' rule). */
const KEY_PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/$/;
const KEY_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

function isKey(text: string): boolean {
  const slash = text.lastIndexOf('/');
  const prefix = slash < 0 ? '' : text.slice(0, slash + 1);
  return (prefix === '' || (prefix.length <= 254 && KEY_PREFIX.test(prefix))) && KEY_NAME.test(text.slice(slash + 1));
}

export interface LoadedConfig {
  config: Config;
  source: YamlSource;
}

export interface ConfigParseOptions {
  /** Default for node.name. */
  hostname: string;
}

export function parseConfig(text: string, file: string, opts: ConfigParseOptions): LoadedConfig {
  const src = parseYaml(text, file, 'AFW_CONFIG_INVALID');
  const parsed = configSchema.safeParse(src.data);
  if (!parsed.success) {
    throw invalid(file, zodProblems(src, parsed.error));
  }
  const problems: Problem[] = [];
  const report: Report = (p, message) => problems.push(problemAt(src, p, message));
  const config = normalize(parsed.data, file, opts, report);
  if (problems.length > 0) throw invalid(file, problems);
  return { config, source: src };
}

function invalid(file: string, problems: Problem[]): AfwError {
  return new AfwError('AFW_CONFIG_INVALID', `${file}: ${problems.length} problem(s) in the config`, { problems });
}

/** The plane CIDRs as parsed objects (for containment checks elsewhere). */
export function planeCidrs(net: PlaneNetwork): ParsedCidr[] {
  return net.cidrs.map((c) => parseCidr(c).cidr).filter((c): c is ParsedCidr => c !== undefined);
}

function normalizeNetwork(raw: RawConfig['networks'][Plane], at: FieldPath, report: Report): PlaneNetwork {
  const hasCidr = raw.cidr !== undefined;
  const hasIface = raw.interface !== undefined;
  if (hasCidr === hasIface) {
    report(at, 'give exactly one of cidr or interface');
    return { cidrs: [] };
  }
  if (hasIface) {
    const name = raw.interface!;
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) {
      report([...at, 'interface'], `"${name}" is not an interface name (1-15 letters, digits, . _ -)`);
    }
    return { cidrs: [], interface: name };
  }
  const list = typeof raw.cidr === 'string' ? [raw.cidr] : raw.cidr!;
  const cidrs: ParsedCidr[] = [];
  list.forEach((text, i) => {
    const fieldPath = typeof raw.cidr === 'string' ? [...at, 'cidr'] : [...at, 'cidr', i];
    const { cidr, error } = parseCidr(text);
    if (!cidr) {
      report(fieldPath, error ?? 'not a CIDR');
      return;
    }
    if (cidrs.some((c) => c.family === cidr.family)) {
      report(fieldPath, `a second IPv${cidr.family} CIDR: give at most one CIDR per address family`);
      return;
    }
    cidrs.push(cidr);
  });
  return { cidrs: cidrs.map((c) => c.text) };
}

function normalizeVips(list: string[] | undefined, plane: Plane, net: PlaneNetwork, report: Report): string[] {
  const key = VIP_KEY[plane];
  const out: string[] = [];
  const cidrs = planeCidrs(net);
  (list ?? []).forEach((text, i) => {
    const at = ['virtualIPs', key, i];
    const addr = parseAddress(text);
    if (!addr) {
      report(at, `"${text}" is not an IP address`);
      return;
    }
    if (out.includes(addr.text)) {
      report(at, `${addr.text} is listed twice`);
      return;
    }
    if (net.cidrs.length > 0 && !cidrs.some((c) => cidrContains(c, addr))) {
      report(at, `${addr.text} is outside the ${plane} CIDR ${net.cidrs.join(', ')}`);
      return;
    }
    out.push(addr.text);
  });
  return out;
}

/** "proto:port" or "proto:cidr:port" (the CIDR may be IPv6, so split on the first and last colon). */
export function parseFailsafe(text: string, at: FieldPath, report: Report): FailsafeEntry | undefined {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  const proto = first < 0 ? text : text.slice(0, first);
  if (first < 0 || (proto !== 'tcp' && proto !== 'udp')) {
    report(at, `"${text}" is not a failsafe entry: write "tcp:22", "udp:68" or "tcp:10.0.0.0/8:22"`);
    return undefined;
  }
  const entry: FailsafeEntry = { protocol: proto, ports: { from: 0, to: 0 }, text };
  if (last > first) {
    const { cidr, error } = parseCidr(text.slice(first + 1, last));
    if (!cidr) {
      report(at, `"${text}": ${error}`);
      return undefined;
    }
    entry.cidr = cidr.text;
  }
  const ports = parsePort(text.slice(last + 1), at, (p, m) => report(p, `"${text}": ${m}`));
  if (!ports) return undefined;
  entry.ports = ports;
  return entry;
}

/** `failsafe: NAME`: the preset's lists, or a problem naming the ones there are. */
function failsafePreset(name: string, report: Report): (typeof FAILSAFE_PRESETS)[FailsafePreset] | undefined {
  if (Object.hasOwn(FAILSAFE_PRESETS, name)) return FAILSAFE_PRESETS[name as FailsafePreset];
  report(
    ['failsafe'],
    `unknown preset "${name}": write ${Object.keys(FAILSAFE_PRESETS).join(' or ')} (Felix's default failsafe ports), or { inbound: [...], outbound: [...] }`,
  );
  return undefined;
}

function normalize(raw: RawConfig, file: string, opts: ConfigParseOptions, report: Report): Config {
  const dir = path.dirname(file);
  const networks = {} as Record<Plane, PlaneNetwork>;
  for (const plane of PLANES) networks[plane] = normalizeNetwork(raw.networks[plane], ['networks', plane], report);

  // A preset's entries point at the `failsafe` line; listed entries at their own.
  const preset = typeof raw.failsafe === 'string' ? failsafePreset(raw.failsafe, report) : undefined;
  const failsafe = (dir: 'inbound' | 'outbound', dflt: readonly string[]) => {
    const listed = typeof raw.failsafe === 'object' ? raw.failsafe[dir] : undefined;
    return (preset?.[dir] ?? listed ?? (typeof raw.failsafe === 'string' ? [] : dflt))
      .map((t, i) => parseFailsafe(t, preset ? ['failsafe'] : ['failsafe', dir, i], report))
      .filter((e): e is FailsafeEntry => e !== undefined);
  };

  const verifyEvery = raw.verify?.intervalSeconds ?? 0;
  if (verifyEvery > 0 && verifyEvery < 10) {
    report(['verify', 'intervalSeconds'], `${verifyEvery}: 0 (the daemon never runs verify) or 10 to 86,400 seconds`);
  }
  const listenText = raw.status?.listen ?? DEFAULTS.statusListen;
  const listen = parseListen(listenText);
  if (!listen) report(['status', 'listen'], `"${listenText}" is not ADDRESS:PORT (e.g. 127.0.0.1:9900 or [::1]:9900)`);

  const policies: Policy[] = [];
  (raw.policies ?? []).forEach((p, i) => {
    const dup = policies.findIndex((q) => q.name === p.name);
    if (dup >= 0) {
      report(['policies', i, 'name'], `policy "${p.name}" is defined twice (also policies[${dup}])`);
      return;
    }
    const policy = parsePolicy(p, ['policies', i], report, 'config');
    if (policy) policies.push(policy);
  });

  const inbound = failsafe('inbound', DEFAULTS.failsafeInbound);
  const metricsListen = parseMetricsListen(
    raw.metrics?.listen,
    { controlPlane: networks.controlPlane, status: listen, policies, failsafe: inbound },
    report,
  );

  const kubernetes = raw.inventory.kubernetes ? normalizeKubernetes(raw.inventory.kubernetes, dir, networks, report) : undefined;
  const rawRoles = raw.node.roles ?? [];
  const roles = [...new Set(rawRoles)];
  if (roles.length !== rawRoles.length) report(['node', 'roles'], 'a role is listed twice');
  if (raw.node.roles === undefined && !raw.inventory.kubernetes) {
    report(['node'], "roles is required (it may be left out only with inventory.kubernetes: the local Node's labels give it)");
  }

  return {
    file,
    node: {
      name: raw.node.name ?? opts.hostname,
      roles: roles.sort(),
      ...(raw.node.roles === undefined ? { rolesFromInventory: true } : {}),
    },
    networks,
    virtualIPs: {
      management: normalizeVips(raw.virtualIPs?.management, 'controlPlane', networks.controlPlane, report),
      data: normalizeVips(raw.virtualIPs?.data, 'workloadPlane', networks.workloadPlane, report),
    },
    inventoryFile: path.resolve(dir, raw.inventory.file ?? DEFAULTS.inventoryFile),
    ...(kubernetes ? { kubernetes } : {}),
    mode: raw.mode ?? DEFAULTS.mode,
    denyAction: raw.denyAction ?? DEFAULTS.denyAction,
    logDrops: raw.logDrops ?? DEFAULTS.logDrops,
    icmp: raw.icmp ?? DEFAULTS.icmp,
    failsafe: {
      inbound,
      outbound: failsafe('outbound', DEFAULTS.failsafeOutbound),
    },
    status: listen ?? { host: '127.0.0.1', port: 9900 },
    metrics: { listen: metricsListen },
    denied: { ...DEFAULTS.denied, ...raw.denied },
    verify: { intervalSeconds: raw.verify?.intervalSeconds ?? 0 },
    stateDir: path.resolve(dir, raw.stateDir ?? DEFAULTS.stateDir),
    backend: raw.backend ?? DEFAULTS.backend,
    policies,
  };
}

function normalizeIpSource(
  raw: NonNullable<RawKubernetes['controlPlaneIP']> | undefined,
  plane: Plane,
  net: PlaneNetwork,
  report: Report,
): NodeIpSource {
  const key = plane === 'controlPlane' ? 'controlPlaneIP' : 'workloadPlaneIP';
  const at = ['inventory', 'kubernetes', key];
  if (raw === undefined) return DEFAULTS.kubernetes[key];
  const given = (['addressType', 'annotation', 'cidr'] as const).filter((k) => raw[k] !== undefined);
  if (given.length !== 1) {
    report(at, 'give exactly one of addressType, annotation or cidr: fromPlane');
    return DEFAULTS.kubernetes[key];
  }
  if (raw.addressType !== undefined) {
    if (!IP_ADDRESS_TYPES.includes(raw.addressType)) {
      report(
        [...at, 'addressType'],
        `"${raw.addressType}" is not a Node address type with an IP: use ${IP_ADDRESS_TYPES.join(' or ')}`,
      );
    }
    return { kind: 'addressType', type: raw.addressType };
  }
  if (raw.annotation !== undefined) {
    if (!isKey(raw.annotation)) {
      report([...at, 'annotation'], `"${raw.annotation}" is not an annotation key (e.g. projectcalico.org/IPv4Address)`);
    }
    return { kind: 'annotation', key: raw.annotation };
  }
  if (net.cidrs.length === 0) {
    report([...at, 'cidr'], `fromPlane needs networks.${plane}.cidr (the plane is given by its interface)`);
  }
  return { kind: 'fromPlane' };
}

function normalizeKubernetes(
  raw: RawKubernetes,
  dir: string,
  networks: Record<Plane, PlaneNetwork>,
  report: Report,
): KubernetesSource {
  const prefix = raw.roleLabelPrefix ?? DEFAULTS.kubernetes.roleLabelPrefix;
  // Whatever its shape, prefix + role must be a label key.
  if (!isKey(`${prefix}registry`)) {
    report(
      ['inventory', 'kubernetes', 'roleLabelPrefix'],
      `"${prefix}" + a role is not a label key (e.g. node-role.kubernetes.io/)`,
    );
  }
  return {
    kubeconfig: path.resolve(dir, raw.kubeconfig),
    roleLabelPrefix: prefix,
    ip: {
      controlPlane: normalizeIpSource(raw.controlPlaneIP, 'controlPlane', networks.controlPlane, report),
      workloadPlane: normalizeIpSource(raw.workloadPlaneIP, 'workloadPlane', networks.workloadPlane, report),
    },
    maxShrink: raw.maxShrink ?? DEFAULTS.kubernetes.maxShrink,
    watchTimeoutSeconds: raw.watchTimeoutSeconds ?? DEFAULTS.kubernetes.watchTimeoutSeconds,
  };
}
