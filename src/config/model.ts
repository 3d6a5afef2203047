// The validated, normalised model of config.yaml and inventory.yaml. Everything
// downstream (resolve, compile, render) works on these types only.

export const ROLES = ['bootstrap', 'master', 'etcd', 'infra', 'registry'] as const;
export type Role = (typeof ROLES)[number];

export const PLANES = ['controlPlane', 'workloadPlane'] as const;
export type Plane = (typeof PLANES)[number];

export type Family = 4 | 6;

export interface PortRange {
  from: number;
  to: number;
}

/** An IP protocol by number, with the name the user wrote (for comments). */
export interface Protocol {
  number: number;
  name: string;
  /** icmp is IPv4 only, icmpv6 IPv6 only, ipip (IPv4-in-IPv4) IPv4 only; the rest are both. */
  families: Family[];
}

export type PeerSelector = { kind: 'plane'; plane: Plane; roles?: Role[] } | { kind: 'cidrs'; cidrs: string[] };

export type RuleAction = 'allow' | 'deny' | 'log';

export interface PolicyRule {
  action: RuleAction;
  protocol?: Protocol;
  ports?: PortRange[];
  /** `from` for ingress, `to` for egress; undefined: any address. */
  peer?: PeerSelector;
  comment?: string;
}

export interface Policy {
  name: string;
  order: number;
  appliesTo: { plane: Plane; roles?: Role[] };
  ingress: PolicyRule[];
  egress: PolicyRule[];
  source: 'builtin' | 'config';
}

export interface FailsafeEntry {
  protocol: 'tcp' | 'udp';
  cidr?: string;
  ports: PortRange;
  text: string;
}

export interface PlaneNetwork {
  /** Normalised CIDRs (at most one per family); empty when the interface is named. */
  cidrs: string[];
  interface?: string;
}

export type Mode = 'enforce' | 'audit';
export type DenyAction = 'drop' | 'reject';
export type IcmpMode = 'essential' | 'all' | 'none';
export type BackendChoice = 'auto' | 'legacy' | 'nft';

/** Where a plane IP is found on a Kubernetes Node. */
export type NodeIpSource = { kind: 'addressType'; type: string } | { kind: 'annotation'; key: string } | { kind: 'fromPlane' };

/** `inventory.kubernetes`: membership from the cluster's Node objects. */
export interface KubernetesSource {
  /** Absolute path of the kubeconfig. */
  kubeconfig: string;
  roleLabelPrefix: string;
  ip: Record<Plane, NodeIpSource>;
  /** The largest fraction of the last good membership a new one may lose before it is refused. */
  maxShrink: number;
  /** Asked of the API server for each watch; a watch silent for longer (plus a margin) is replaced. */
  watchTimeoutSeconds: number;
}

/** `denied`: the record of refused flows (src/denied/). */
export interface DeniedSettings {
  /** Log each refused packet to NFLOG for the record (false: no NFLOG rules, no reader). */
  record: boolean;
  /** The most flow keys the record holds; new keys beyond it are counted in overflow. */
  maxFlows: number;
  /** The NFLOG group the refused packets are sent to (one reader per group and namespace). */
  nflogGroup: number;
  /** The most packets a second each deny rule sends to the record (the kernel's limit match). */
  packetsPerSecond: number;
}

export interface Config {
  /** Absolute path of the config file. */
  file: string;
  node: {
    name: string;
    roles: Role[];
    /** node.roles left out (only with inventory.kubernetes): the local node's inventory entry gives them. */
    rolesFromInventory?: boolean;
  };
  networks: Record<Plane, PlaneNetwork>;
  virtualIPs: { management: string[]; data: string[] };
  /** Absolute path of the inventory file. */
  inventoryFile: string;
  /** Set: the inventory comes from Kubernetes Node objects, and inventoryFile is its cache. */
  kubernetes?: KubernetesSource;
  mode: Mode;
  denyAction: DenyAction;
  logDrops: boolean;
  icmp: IcmpMode;
  failsafe: { inbound: FailsafeEntry[]; outbound: FailsafeEntry[] };
  status: { host: string; port: number };
  /**
   * `metrics.listen`: /metrics alone for the cluster's Prometheus, on this
   * node's control-plane address (host null: the node's own from the
   * membership, filled in once it is loaded); null: off, the default.
   */
  metrics: { listen: { host: string | null; port: number } | null };
  denied: DeniedSettings;
  /** `verify.intervalSeconds`: the daemon runs verify this often (0: never, the default). */
  verify: { intervalSeconds: number };
  stateDir: string;
  backend: BackendChoice;
  /** The user's policies as written (built-ins are merged in later). */
  policies: Policy[];
}

export interface InventoryNode {
  name: string;
  roles: Role[];
  /** Normalised addresses per plane (at most one per family). */
  addresses: Record<Plane, string[]>;
}

export interface Inventory {
  file: string;
  nodes: InventoryNode[];
}

export const VIP_KEY: Record<Plane, 'management' | 'data'> = { controlPlane: 'management', workloadPlane: 'data' };
