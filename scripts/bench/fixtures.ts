// Inventories and configs of any size for the benchmarks.
import { stringify } from 'yaml';

export function nodeAddress(plane: 'cp' | 'wp', i: number): string {
  const n = i + 1;
  return `10.${plane === 'cp' ? 100 : 200}.${n >> 8}.${n & 255}`;
}

/** The roles of the i-th bench node: node-1 every role, node-2 and node-3 master/etcd/infra, every 10th infra, the rest none. */
export function benchRoles(i: number): string[] {
  if (i === 0) return ['bootstrap', 'master', 'etcd', 'infra', 'registry'];
  if (i < 3) return ['master', 'etcd', 'infra'];
  return i % 10 === 0 ? ['infra'] : [];
}

export function inventoryText(nodes: number, extra: { name: string; cp: string; wp: string }[] = []): string {
  const list = [];
  for (let i = 0; i < nodes; i++) {
    const roles = benchRoles(i);
    list.push({ name: `node-${i + 1}`, roles, controlPlaneIP: nodeAddress('cp', i), workloadPlaneIP: nodeAddress('wp', i) });
  }
  for (const e of extra) list.push({ name: e.name, roles: [], controlPlaneIP: e.cp, workloadPlaneIP: e.wp });
  return stringify({ apiVersion: 'artesca-fw/v1', nodes: list });
}

export function configText(opts: { stateDir?: string; extra?: Record<string, unknown> } = {}): string {
  return stringify({
    apiVersion: 'artesca-fw/v1',
    node: { name: 'node-1', roles: ['bootstrap', 'master', 'etcd', 'infra', 'registry'] },
    networks: { controlPlane: { cidr: '10.100.0.0/16' }, workloadPlane: { cidr: '10.200.0.0/16' } },
    virtualIPs: { management: ['10.100.255.100'], data: ['10.200.255.100'] },
    inventory: { file: 'inventory.yaml' },
    stateDir: opts.stateDir ?? 'state',
    logDrops: false,
    ...(opts.extra ?? {}),
  });
}

/**
 * A filter table restore batch with `n` rules that are not artesca-fw's (one
 * chain, jumped to from INPUT): the busy host of the idle and legacy drift
 * measurements.
 */
export function foreignFilterRules(n: number): string {
  const rules = ['*filter', ':FOREIGN - [0:0]'];
  for (let i = 0; i < n; i++) {
    rules.push(
      `-A FOREIGN -s 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32 -p tcp -m tcp --dport ${1024 + (i % 50000)} -j ACCEPT`,
    );
  }
  rules.push('-A INPUT -j FOREIGN', 'COMMIT', '');
  return rules.join('\n');
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

export function median(values: number[]): number {
  return percentile(values, 50);
}
