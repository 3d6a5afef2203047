// Plane -> local interface. Pure: the caller passes the host's interfaces
// (os.networkInterfaces() in the agent, a fixed list in tests).
import { cidrContains, isLinkLocal6, parseAddress } from '../config/addresses.js';
import type { Config, Family, Plane } from '../config/model.js';
import { PLANES } from '../config/model.js';
import { planeCidrs } from '../config/validate-config.js';
import type { Endpoint, UnresolvedPlane } from './ruleset.js';

export interface HostAddress {
  address: string;
  family: Family;
}

export interface HostInterface {
  name: string;
  addresses: HostAddress[];
}

/** Forces a plane onto a named interface (`--iface controlPlane=eth0`: preview a config on another machine). */
export type InterfaceOverrides = Partial<Record<Plane, string>>;

interface ResolvedPlane {
  plane: Plane;
  interface: string;
  addresses: string[];
  families: Family[];
}

const PLANE_ID: Record<Plane, string> = { controlPlane: 'CP', workloadPlane: 'WP' };

function resolvePlane(
  config: Config,
  plane: Plane,
  interfaces: HostInterface[],
  overrides: InterfaceOverrides,
): ResolvedPlane | UnresolvedPlane {
  const net = config.networks[plane];
  const cidrs = planeCidrs(net);
  const wanted = overrides[plane] ?? net.interface;
  let iface: HostInterface | undefined;
  if (wanted !== undefined) {
    iface = interfaces.find((i) => i.name === wanted) ?? (overrides[plane] ? { name: wanted, addresses: [] } : undefined);
    if (!iface)
      return { plane, reason: `interface ${wanted} (networks.${plane}.interface) does not exist or has no address yet` };
  } else {
    const holders = interfaces.filter(
      (i) =>
        i.name !== 'lo' &&
        i.addresses.some((a) => {
          const addr = parseAddress(a.address);
          return addr !== undefined && cidrs.some((c) => cidrContains(c, addr));
        }),
    );
    if (holders.length === 0) {
      return { plane, reason: `no local interface holds an address in ${net.cidrs.join(', ')} (networks.${plane}.cidr)` };
    }
    if (holders.length > 1) {
      return {
        plane,
        reason: `several interfaces (${holders.map((h) => h.name).join(', ')}) hold addresses in ${net.cidrs.join(', ')}: name one with networks.${plane}.interface`,
      };
    }
    iface = holders[0]!;
  }
  const usable = iface.addresses.filter((a) => !isLinkLocal6(a.address));
  const inPlane =
    cidrs.length === 0
      ? usable
      : usable.filter((a) => {
          const addr = parseAddress(a.address);
          return addr !== undefined && cidrs.some((c) => cidrContains(c, addr));
        });
  // With CIDRs the families are the configured ones; with a named interface, the
  // families it holds real (non link-local) addresses of.
  const families: Family[] = cidrs.length > 0 ? cidrs.map((c) => c.family) : [...new Set(usable.map((a) => a.family))];
  return {
    plane,
    interface: iface.name,
    addresses: inPlane.map((a) => parseAddress(a.address)?.text ?? a.address).sort(),
    families: families.sort(),
  };
}

export function resolveEndpoints(
  config: Config,
  interfaces: HostInterface[],
  overrides: InterfaceOverrides = {},
): { endpoints: Endpoint[]; unresolved: UnresolvedPlane[] } {
  const resolved: ResolvedPlane[] = [];
  const unresolved: UnresolvedPlane[] = [];
  for (const plane of PLANES) {
    const r = resolvePlane(config, plane, interfaces, overrides);
    if ('reason' in r) unresolved.push(r);
    else resolved.push(r);
  }
  const endpoints: Endpoint[] = [];
  for (const r of resolved) {
    const shared = endpoints.find((e) => e.interface === r.interface);
    if (shared) {
      shared.planes.push(r.plane);
      shared.id = shared.planes.map((p) => PLANE_ID[p]).join('');
      shared.addresses = [...new Set([...shared.addresses, ...r.addresses])].sort();
      shared.families[r.plane] = r.families;
    } else {
      endpoints.push({
        id: PLANE_ID[r.plane],
        planes: [r.plane],
        interface: r.interface,
        addresses: r.addresses,
        families: { [r.plane]: r.families },
      });
    }
  }
  return { endpoints, unresolved };
}
