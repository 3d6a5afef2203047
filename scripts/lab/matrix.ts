// Probes every listed port of every target from every source and sets the
// result beside what policies.md expects (expectations.ts).
import type { Cluster, Role } from './cluster.js';
import { expectedAllowed, PROBES, type Probe } from './expectations.js';

export interface Target {
  /** Label: node name, or "VIP 10.100.0.100 (node-1)". */
  label: string;
  /** The namespace that answers (for VIPs: the holder). */
  node: string;
  roles: Role[];
  cp?: string;
  wp?: string;
}

export interface Source {
  name: string;
  roles: Role[];
  inInventory: boolean;
}

export interface Row {
  source: string;
  target: string;
  host: string;
  probe: Probe;
  expected: boolean;
  actual: boolean;
  state: string;
}

export async function runMatrix(
  cluster: Cluster,
  targets: Target[],
  sources: Source[],
  probes: Probe[] = PROBES,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const t of targets) {
    for (const s of sources) {
      if (s.name === t.node) continue;
      const batch = await Promise.all(
        probes
          .filter((p) => (p.plane === 'cp' ? t.cp : t.wp) !== undefined)
          .map(async (p) => {
            const host = (p.plane === 'cp' ? t.cp : t.wp)!;
            const r = await cluster.peers[s.name]!.probe(host, p.port, { proto: p.proto, timeoutMs: 400 });
            return {
              source: s.name,
              target: t.label,
              host,
              probe: p,
              expected: expectedAllowed(p, t.roles, { inInventory: s.inInventory, roles: s.roles }),
              actual: r.state === 'open',
              state: r.state,
            };
          }),
      );
      rows.push(...batch);
    }
  }
  return rows;
}

export function formatRow(r: Row): string {
  const label = `${r.source} -> ${r.target} ${r.probe.proto}/${r.probe.port} ${r.host} (${r.probe.what})`;
  const ok = r.expected === r.actual;
  return `${label.padEnd(64)} ${(r.expected ? 'allowed' : 'blocked').padEnd(9)} ${(r.actual ? 'allowed' : 'blocked').padEnd(9)}${ok ? '' : '  <-- MISMATCH'}`;
}
