// Calico's GlobalNetworkPolicies, HostEndpoints and FelixConfiguration ->
// artesca-fw `policies:` and `failsafe:`. Pure. What cannot be expressed
// exactly is refused with its place (file, line, field), never dropped.
//
// How a selector becomes roles: a HostEndpoint's plane comes from its
// interface or expected IPs against the config's plane networks; its labels
// are node-role labels (roles) and others. A selector is judged for every
// combination of the five roles, on each plane, with the labels every
// HostEndpoint of that plane shares. It maps to a plane with no roles (every
// node), a plane with a list of roles (a node with any of them), or nothing;
// any other shape (a node with two roles at once, a node without a role) has
// no artesca-fw equivalent and is refused. Peer selectors map the same way to
// role peer sets, one rule per plane they select.

import { inCidr, parseAddress, parseCidr } from '../config/addresses.js';
import { FAILSAFE_PRESETS } from '../config/failsafe-presets.js';
import type { Config, Plane, Role } from '../config/model.js';
import { PLANES, ROLES } from '../config/model.js';
import type { RawEgressRule, RawIngressRule, RawPolicy } from '../config/schema.js';
import type { Problem } from '../errors.js';
import type { CalicoResource } from './calico-documents.js';
import { parseSelector, type Selector, SelectorError, selectorKeys, selects } from './selector.js';

/** artesca-fw's order for a Calico policy without one (Calico: after every ordered policy). */
export const UNORDERED = 1_000_000;
const DEFAULT_ROLE_PREFIX = 'node-role.kubernetes.io/';
const PROTOCOLS: Record<string, string | number> = {
  TCP: 'tcp',
  UDP: 'udp',
  ICMP: 'icmp',
  ICMPV6: 'icmpv6',
  SCTP: 132,
  UDPLITE: 136,
};
const RULE_FIELDS = new Set([
  'action',
  'protocol',
  'source',
  'destination',
  'metadata',
  'ipVersion',
  'notProtocol',
  'icmp',
  'notICMP',
  'http',
]);
const GNP_FIELDS = new Set([
  'order',
  'selector',
  'types',
  'ingress',
  'egress',
  'doNotTrack',
  'preDNAT',
  'applyOnForward',
  'tier',
  'namespaceSelector',
  'serviceAccountSelector',
  'performanceHints',
]);

export interface ImportResult {
  policies: RawPolicy[];
  /** A preset name (Felix's defaults) or the lists. */
  failsafe: string | { inbound: string[]; outbound: string[] };
  /** Why the failsafe is what it is. */
  failsafeNote: string;
  problems: Problem[];
  /** HostEndpoints by plane (what placed them). */
  endpoints: { name: string; planes: Plane[] }[];
}

interface PlaneWorld {
  /** Labels every HostEndpoint of the plane carries, roles aside. */
  shared: Record<string, string>;
  /** Labels that differ between the plane's HostEndpoints (a selector may not look at them). */
  varying: Set<string>;
  /** The value each role label has on the HostEndpoints ('' when unseen). */
  roleValue: Record<string, string>;
  present: boolean;
}

type RoleMatch = { kind: 'none' } | { kind: 'all' } | { kind: 'roles'; roles: Role[] } | { kind: 'inexpressible' };

function subsets<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let m = 0; m < 1 << items.length; m++) out.push(items.filter((_, i) => m & (1 << i)));
  return out;
}
const ROLE_SETS = subsets(ROLES);

const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

export class CalicoImporter {
  private readonly problems: Problem[] = [];
  private readonly worlds = {} as Record<Plane, PlaneWorld>;
  private readonly prefix: string;
  readonly endpoints: { name: string; planes: Plane[] }[] = [];

  constructor(
    private readonly config: Config,
    private readonly resources: CalicoResource[],
  ) {
    this.prefix = config.kubernetes?.roleLabelPrefix ?? DEFAULT_ROLE_PREFIX;
    for (const p of PLANES) this.worlds[p] = { shared: {}, varying: new Set(), roleValue: {}, present: false };
  }

  run(): ImportResult {
    this.placeEndpoints();
    const policies: RawPolicy[] = [];
    for (const r of this.resources.filter((x) => x.kind === 'GlobalNetworkPolicy')) policies.push(...this.policy(r));
    const failsafe = this.failsafe();
    return { policies, ...failsafe, problems: this.problems, endpoints: this.endpoints };
  }

  // --- HostEndpoints: their planes and labels ---

  private planesOf(r: CalicoResource): Plane[] {
    const spec = obj(r.body.spec);
    const iface = spec.interfaceName as string | undefined;
    const ips = Array.isArray(spec.expectedIPs) ? (spec.expectedIPs as unknown[]).map(String) : [];
    if (iface === '*') {
      this.problems.push(
        r.at(
          ['spec', 'interfaceName'],
          '"*" (every interface of the host) has no plane: artesca-fw polices the two plane interfaces',
        ),
      );
      return [];
    }
    const planes = PLANES.filter((p) => {
      const net = this.config.networks[p];
      if (net.interface && iface === net.interface) return true;
      return ips.some((ip) => {
        const a = parseAddress(ip);
        return (
          a &&
          net.cidrs.some((c) => {
            const cidr = parseCidr(c).cidr;
            return cidr && inCidr(a.text, cidr);
          })
        );
      });
    });
    if (planes.length === 0) {
      this.problems.push(
        r.at(
          ['spec'],
          `neither plane: interface ${iface ?? '(none)'} and expected IPs ${ips.join(', ') || '(none)'} match neither networks.controlPlane nor networks.workloadPlane of the config`,
        ),
      );
    }
    return planes;
  }

  private placeEndpoints(): void {
    const seen: Record<Plane, Record<string, string>[]> = { controlPlane: [], workloadPlane: [] };
    for (const r of this.resources.filter((x) => x.kind === 'HostEndpoint')) {
      const labels = Object.fromEntries(Object.entries(obj(obj(r.body.metadata).labels)).map(([k, v]) => [k, String(v ?? '')]));
      const planes = this.planesOf(r);
      this.endpoints.push({ name: r.name, planes });
      for (const p of planes) {
        seen[p].push(labels);
        for (const [k, v] of Object.entries(labels)) if (k.startsWith(this.prefix)) this.worlds[p].roleValue[k] = v;
      }
    }
    for (const p of PLANES) {
      const list = seen[p].map((l) => Object.fromEntries(Object.entries(l).filter(([k]) => !k.startsWith(this.prefix))));
      const w = this.worlds[p];
      w.present = list.length > 0;
      const keys = new Set(list.flatMap((l) => Object.keys(l)));
      for (const k of keys) {
        const values = new Set(list.map((l) => l[k]));
        if (values.size === 1 && list.every((l) => k in l)) w.shared[k] = list[0]![k]!;
        else w.varying.add(k);
      }
    }
  }

  // --- selectors ---

  private parse(r: CalicoResource, path: (string | number)[], text: unknown): Selector | undefined {
    if (typeof text !== 'string') {
      this.problems.push(r.at(path, 'a selector is a string'));
      return undefined;
    }
    try {
      const s = parseSelector(text);
      for (const key of selectorKeys(s)) {
        if (key.startsWith(this.prefix)) {
          const role = key.slice(this.prefix.length);
          if (!(ROLES as readonly string[]).includes(role)) {
            this.problems.push(r.at(path, `"${key}": ${role} is not an ARTESCA role (${ROLES.join(', ')})`));
            return undefined;
          }
        } else if (PLANES.some((p) => this.worlds[p].varying.has(key))) {
          this.problems.push(
            r.at(
              path,
              `"${key}" differs between the HostEndpoints of a plane: a policy that selects some nodes by it, not by role, cannot be expressed`,
            ),
          );
          return undefined;
        }
      }
      return s;
    } catch (err) {
      if (err instanceof SelectorError) {
        this.problems.push(r.at(path, `not a Calico selector: ${err.message} (at character ${err.offset + 1} of "${text}")`));
        return undefined;
      }
      throw err;
    }
  }

  /** Which nodes of plane `p` the selector picks, in artesca-fw's terms. */
  private rolesOn(s: Selector, p: Plane): RoleMatch {
    const w = this.worlds[p];
    if (!w.present) return { kind: 'none' };
    const picked = (roles: readonly Role[]) =>
      selects(s, { ...w.shared, ...Object.fromEntries(roles.map((r) => [this.prefix + r, w.roleValue[this.prefix + r] ?? ''])) });
    const results = ROLE_SETS.map((set) => ({ set, picked: picked(set) }));
    if (results.every((x) => !x.picked)) return { kind: 'none' };
    if (results.every((x) => x.picked)) return { kind: 'all' };
    const roles = ROLES.filter((r) => picked([r]));
    const exact = results.every((x) => x.picked === x.set.some((r) => roles.includes(r)));
    return exact && roles.length > 0 ? { kind: 'roles', roles: [...roles] } : { kind: 'inexpressible' };
  }

  // --- policies ---

  private policy(r: CalicoResource): RawPolicy[] {
    const spec = obj(r.body.spec);
    const before = this.problems.length;
    for (const k of Object.keys(spec)) {
      if (!GNP_FIELDS.has(k)) this.problems.push(r.at(['spec', k], `${k} has no artesca-fw equivalent: refused, not dropped`));
    }
    const refuseIf = (cond: boolean, field: string, why: string) => {
      if (cond) this.problems.push(r.at(['spec', field], why));
    };
    refuseIf(
      spec.doNotTrack === true,
      'doNotTrack',
      'doNotTrack policies bypass connection tracking: artesca-fw has no untracked rules',
    );
    refuseIf(
      spec.preDNAT === true,
      'preDNAT',
      'preDNAT policies apply before DNAT and to forwarded traffic: artesca-fw judges local delivery only',
    );
    refuseIf(spec.applyOnForward === true, 'applyOnForward', 'artesca-fw does not police forwarded traffic');
    refuseIf(
      spec.tier !== undefined && spec.tier !== 'default',
      'tier',
      `tier ${JSON.stringify(spec.tier)}: only the default tier can be imported`,
    );
    refuseIf(
      typeof spec.namespaceSelector === 'string' && spec.namespaceSelector.trim() !== '',
      'namespaceSelector',
      'a namespace selector picks pods, not hosts',
    );
    refuseIf(
      typeof spec.serviceAccountSelector === 'string' && spec.serviceAccountSelector.trim() !== '',
      'serviceAccountSelector',
      'a service account selector picks pods, not hosts',
    );
    let order = UNORDERED;
    if (spec.order !== undefined) {
      if (typeof spec.order !== 'number' || !Number.isInteger(spec.order) || spec.order < 0 || spec.order > UNORDERED) {
        this.problems.push(
          r.at(['spec', 'order'], `${JSON.stringify(spec.order)}: artesca-fw orders are whole numbers from 0 to ${UNORDERED}`),
        );
      } else order = spec.order;
    }
    const selector = this.parse(r, ['spec', 'selector'], spec.selector ?? '');
    const ingressRules = Array.isArray(spec.ingress) ? (spec.ingress as unknown[]) : [];
    const egressRules = Array.isArray(spec.egress) ? (spec.egress as unknown[]) : [];
    const types = Array.isArray(spec.types) ? (spec.types as string[]) : ['Ingress', ...(egressRules.length ? ['Egress'] : [])];
    for (const [i, t] of types.entries()) {
      if (t !== 'Ingress' && t !== 'Egress')
        this.problems.push(r.at(['spec', 'types', i], `${JSON.stringify(t)}: Ingress or Egress`));
    }
    const ingress = types.includes('Ingress')
      ? ingressRules.flatMap((rule, i) => this.rule(r, 'ingress', rule, ['spec', 'ingress', i]))
      : [];
    const egress = types.includes('Egress')
      ? egressRules.flatMap((rule, i) => this.rule(r, 'egress', rule, ['spec', 'egress', i]))
      : [];
    if (!selector || this.problems.length > before) return [];

    const name = r.name
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .slice(0, 60);
    const out: RawPolicy[] = [];
    const planes = PLANES.map((p) => ({ p, m: this.rolesOn(selector, p) })).filter((x) => x.m.kind !== 'none');
    for (const { p, m } of planes) {
      if (m.kind === 'inexpressible') {
        this.problems.push(
          r.at(
            ['spec', 'selector'],
            `on the ${p}, "${spec.selector}" picks nodes by a combination of roles artesca-fw cannot hold (a policy applies to every node of a plane, or to the nodes having any of a list of roles)`,
          ),
        );
        continue;
      }
      const appliesTo = m.kind === 'roles' ? { plane: p, roles: m.roles } : { plane: p };
      out.push({
        name: planes.length > 1 ? `${name}-${p === 'controlPlane' ? 'cp' : 'wp'}` : name,
        order,
        appliesTo,
        ...(ingress.length ? { ingress: ingress as RawIngressRule[] } : {}),
        ...(egress.length ? { egress: egress as RawEgressRule[] } : {}),
      });
    }
    return out;
  }

  /** One Calico rule -> artesca-fw rules (one per plane a peer selector picks). */
  private rule(
    r: CalicoResource,
    direction: 'ingress' | 'egress',
    raw: unknown,
    at: (string | number)[],
  ): (RawIngressRule | RawEgressRule)[] {
    const rule = obj(raw);
    const problem = (path: (string | number)[], message: string) => {
      this.problems.push(r.at([...at, ...path], message));
      return [];
    };
    for (const k of Object.keys(rule)) if (!RULE_FIELDS.has(k)) return problem([k], `${k} has no artesca-fw equivalent`);
    const action = rule.action;
    if (action !== 'Allow' && action !== 'Deny') {
      return problem(
        ['action'],
        action === 'Log' || action === 'Pass'
          ? `${action} has no artesca-fw equivalent (allow and deny only)`
          : `${JSON.stringify(action)}: Allow, Deny, Log or Pass`,
      );
    }
    for (const k of ['notProtocol', 'icmp', 'notICMP', 'http', 'ipVersion'] as const) {
      if (rule[k] !== undefined) return problem([k], `${k} has no artesca-fw equivalent`);
    }
    const out: Record<string, unknown> = { action: action === 'Allow' ? 'allow' : 'deny' };
    if (rule.protocol !== undefined) {
      const p = rule.protocol;
      const mapped = typeof p === 'number' ? p : PROTOCOLS[String(p).toUpperCase()];
      if (mapped === undefined)
        return problem(['protocol'], `${JSON.stringify(p)}: TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number`);
      out.protocol = mapped;
    }
    const [peerSide, localSide] =
      direction === 'ingress' ? (['source', 'destination'] as const) : (['destination', 'source'] as const);
    const peer = obj(rule[peerSide]);
    const local = obj(rule[localSide]);
    for (const k of Object.keys(local)) {
      if (direction === 'ingress' && k === 'ports') continue;
      if (k.startsWith('not')) return problem([localSide, k], `${k}: a negated match has no artesca-fw equivalent`);
      return problem(
        [localSide, k],
        `${localSide}.${k} of an ${direction} rule is this host's side: artesca-fw matches ${direction === 'ingress' ? 'the destination port only' : 'nothing'} there`,
      );
    }
    for (const k of Object.keys(peer)) {
      if (k === 'nets' || k === 'selector' || (direction === 'egress' && k === 'ports')) continue;
      return problem(
        [peerSide, k],
        k.startsWith('not')
          ? `${k}: a negated match has no artesca-fw equivalent`
          : k === 'ports'
            ? 'source ports have no artesca-fw equivalent (rules match the destination port)'
            : `${peerSide}.${k} has no artesca-fw equivalent (namespaces, service accounts and services are about pods)`,
      );
    }
    const ports = direction === 'ingress' ? local.ports : peer.ports;
    if (ports !== undefined) {
      if (!Array.isArray(ports) || ports.length === 0)
        return problem([direction === 'ingress' ? localSide : peerSide, 'ports'], 'a list of ports');
      const list: (number | string)[] = [];
      for (const [i, v] of ports.entries()) {
        const text = String(v);
        if (/^\d+$/.test(text)) list.push(Number(text));
        else if (/^\d+:\d+$/.test(text)) list.push(text.replace(':', '-'));
        else {
          return problem(
            [direction === 'ingress' ? localSide : peerSide, 'ports', i],
            `${JSON.stringify(v)}: a named port has no artesca-fw equivalent (write its number)`,
          );
        }
      }
      out.ports = list;
    }
    const key = direction === 'ingress' ? 'from' : 'to';
    if (peer.nets !== undefined && peer.selector !== undefined) {
      return problem(
        [peerSide],
        'nets and selector together (addresses of selected endpoints within the nets) have no artesca-fw equivalent',
      );
    }
    if (peer.nets !== undefined) {
      if (!Array.isArray(peer.nets) || peer.nets.length === 0) return problem([peerSide, 'nets'], 'a list of CIDRs');
      return [{ ...out, [key]: { cidrs: peer.nets.map(String) } } as RawIngressRule];
    }
    if (peer.selector !== undefined) {
      const s = this.parse(r, [...at, peerSide, 'selector'], peer.selector);
      if (!s) return [];
      const rules: RawIngressRule[] = [];
      for (const p of PLANES) {
        const m = this.rolesOn(s, p);
        if (m.kind === 'none') continue;
        if (m.kind === 'inexpressible') {
          return problem(
            [peerSide, 'selector'],
            `on the ${p}, "${peer.selector}" picks peers by a combination of roles artesca-fw cannot hold (every node, or the nodes having any of a list of roles)`,
          );
        }
        rules.push({ ...out, [key]: m.kind === 'roles' ? { plane: p, roles: m.roles } : { plane: p } } as RawIngressRule);
      }
      if (rules.length === 0) return problem([peerSide, 'selector'], `"${peer.selector}" picks no HostEndpoint`);
      return rules;
    }
    return [out as unknown as RawIngressRule];
  }

  // --- failsafe ---

  private failsafe(): { failsafe: ImportResult['failsafe']; failsafeNote: string } {
    const felix = this.resources.filter((x) => x.kind === 'FelixConfiguration');
    const chosen = felix.find((f) => f.name === 'default') ?? felix[0];
    if (!chosen) {
      return {
        failsafe: 'calico',
        failsafeNote: "no FelixConfiguration given: Felix's default failsafe ports (failsafe: calico)",
      };
    }
    const spec = obj(chosen.body.spec);
    const inbound = spec.failsafeInboundHostPorts;
    const outbound = spec.failsafeOutboundHostPorts;
    if (inbound === undefined && outbound === undefined) {
      return {
        failsafe: 'calico',
        failsafeNote: `FelixConfiguration ${chosen.name} sets no failsafe ports: Felix's defaults apply (failsafe: calico)`,
      };
    }
    const entries = (field: string, list: unknown): string[] => {
      if (!Array.isArray(list)) {
        this.problems.push(chosen.at(['spec', field], 'a list of { protocol, port, net } entries'));
        return [];
      }
      return list.flatMap((e, i) => {
        const { protocol, port, net } = obj(e);
        const proto = String(protocol ?? 'TCP').toLowerCase();
        if ((proto !== 'tcp' && proto !== 'udp') || !Number.isInteger(port)) {
          this.problems.push(
            chosen.at(['spec', field, i], 'a failsafe entry is { protocol: TCP or UDP, port: N, net: CIDR (optional) }'),
          );
          return [];
        }
        return [net ? `${proto}:${net}:${port}` : `${proto}:${port}`];
      });
    };
    const defaults = FAILSAFE_PRESETS.calico;
    const inb = inbound === undefined ? [...defaults.inbound] : entries('failsafeInboundHostPorts', inbound);
    const outb = outbound === undefined ? [...defaults.outbound] : entries('failsafeOutboundHostPorts', outbound);
    return {
      failsafe: { inbound: inb, outbound: outb },
      failsafeNote: `from FelixConfiguration ${chosen.name}${inbound === undefined || outbound === undefined ? " (Felix's defaults where it sets none)" : ''}`,
    };
  }
}
