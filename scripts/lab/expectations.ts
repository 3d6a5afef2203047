// What ../shared/spec/policies.md says about ingress to a node, written out
// independently of the compiler, so that a probe can be checked against the
// document rather than against artesca-fw's own reading of it.
export type Role = 'bootstrap' | 'master' | 'etcd' | 'infra' | 'registry';

export interface Probe {
  plane: 'cp' | 'wp';
  proto: 'tcp' | 'udp';
  port: number;
  what: string;
}

/** Who may reach a destination with `dstRoles` on this probe: 'any', 'inventory', a role, or nobody. */
type Rule = { dst?: Role; from: 'any' | 'inventory' | Role };

const TABLE: Record<string, Rule> = {
  'cp/tcp/4505': { dst: 'bootstrap', from: 'inventory' },
  'cp/tcp/4506': { dst: 'bootstrap', from: 'inventory' },
  'cp/tcp/4507': { dst: 'bootstrap', from: 'inventory' },
  'cp/tcp/8428': { dst: 'bootstrap', from: 'any' },
  'cp/udp/123': { dst: 'bootstrap', from: 'any' },
  'cp/tcp/6443': { dst: 'master', from: 'inventory' },
  'cp/tcp/8443': { dst: 'master', from: 'any' },
  'cp/tcp/10257': { dst: 'master', from: 'infra' },
  'cp/tcp/10259': { dst: 'master', from: 'infra' },
  'cp/tcp/2379': { dst: 'etcd', from: 'etcd' },
  'cp/tcp/2380': { dst: 'etcd', from: 'inventory' },
  'cp/tcp/2381': { dst: 'etcd', from: 'infra' },
  'cp/tcp/8080': { dst: 'registry', from: 'any' },
  'cp/tcp/10250': { from: 'inventory' },
  'cp/tcp/10256': { from: 'inventory' },
  'cp/tcp/9100': { from: 'infra' },
  'cp/tcp/10249': { from: 'infra' },
  'cp/tcp/22': { from: 'bootstrap' },
  'wp/tcp/80': { from: 'any' },
  'wp/tcp/443': { from: 'any' },
  'wp/tcp/179': { from: 'inventory' },
};

/** One probe per ingress rule of policies.md, and an unlisted port on each plane. */
export const PROBES: Probe[] = [
  { plane: 'cp', proto: 'tcp', port: 4505, what: 'salt-master' },
  { plane: 'cp', proto: 'tcp', port: 4506, what: 'salt-master' },
  { plane: 'cp', proto: 'tcp', port: 4507, what: 'salt-api' },
  { plane: 'cp', proto: 'tcp', port: 8428, what: 'artifacts' },
  { plane: 'cp', proto: 'udp', port: 123, what: 'ntp' },
  { plane: 'cp', proto: 'tcp', port: 6443, what: 'apiserver' },
  { plane: 'cp', proto: 'tcp', port: 8443, what: 'cp ingress' },
  { plane: 'cp', proto: 'tcp', port: 10257, what: 'ctrl-manager' },
  { plane: 'cp', proto: 'tcp', port: 10259, what: 'scheduler' },
  { plane: 'cp', proto: 'tcp', port: 2379, what: 'etcd client' },
  { plane: 'cp', proto: 'tcp', port: 2380, what: 'etcd peer' },
  { plane: 'cp', proto: 'tcp', port: 2381, what: 'etcd metrics' },
  { plane: 'cp', proto: 'tcp', port: 8080, what: 'registry' },
  { plane: 'cp', proto: 'tcp', port: 10250, what: 'kubelet' },
  { plane: 'cp', proto: 'tcp', port: 10256, what: 'kube-proxy hc' },
  { plane: 'cp', proto: 'tcp', port: 9100, what: 'node-exporter' },
  { plane: 'cp', proto: 'tcp', port: 10249, what: 'kube-proxy metrics' },
  { plane: 'cp', proto: 'tcp', port: 22, what: 'ssh' },
  { plane: 'cp', proto: 'tcp', port: 9999, what: 'unlisted' },
  { plane: 'wp', proto: 'tcp', port: 80, what: 'http' },
  { plane: 'wp', proto: 'tcp', port: 443, what: 'https' },
  { plane: 'wp', proto: 'tcp', port: 179, what: 'bgp' },
  { plane: 'wp', proto: 'tcp', port: 9999, what: 'unlisted' },
];

export function expectedAllowed(probe: Probe, dstRoles: Role[], src: { inInventory: boolean; roles: Role[] }): boolean {
  const rule = TABLE[`${probe.plane}/${probe.proto}/${probe.port}`];
  if (!rule) return false;
  if (rule.dst && !dstRoles.includes(rule.dst)) return false;
  if (rule.from === 'any') return true;
  if (rule.from === 'inventory') return src.inInventory;
  return src.inInventory && src.roles.includes(rule.from);
}
