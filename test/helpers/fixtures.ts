// Config and inventory texts for tests, and a temp dir to write them to.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const BASE_CONFIG = `apiVersion: artesca-fw/v1
node:
  name: node-1
  roles: [bootstrap, master, etcd, infra, registry]
networks:
  controlPlane:
    cidr: 10.100.0.0/24
  workloadPlane:
    cidr: 10.200.0.0/24
virtualIPs:
  management: [10.100.0.100]
  data: [10.200.0.100]
inventory:
  file: inventory.yaml
mode: enforce
denyAction: drop
logDrops: true
icmp: essential
failsafe:
  inbound: ["udp:68"]
  outbound: []
status:
  listen: 127.0.0.1:9900
stateDir: state
policies: []
`;

export const BASE_INVENTORY = `apiVersion: artesca-fw/v1
nodes:
  - name: node-1
    roles: [bootstrap, master, etcd, infra, registry]
    controlPlaneIP: 10.100.0.1
    workloadPlaneIP: 10.200.0.1
  - name: node-2
    roles: [master, etcd, infra]
    controlPlaneIP: 10.100.0.2
    workloadPlaneIP: 10.200.0.2
  - name: node-3
    roles: []
    controlPlaneIP: 10.100.0.3
    workloadPlaneIP: 10.200.0.3
`;

export function tempDir(prefix = 'afw-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeFiles(dir: string, config: string, inventory: string): string {
  writeFileSync(path.join(dir, 'config.yaml'), config);
  writeFileSync(path.join(dir, 'inventory.yaml'), inventory);
  return path.join(dir, 'config.yaml');
}

/** Replaces the first occurrence of each `from` (which must exist) in `text`. */
export function edit(text: string, edits: [string, string][]): string {
  let out = text;
  for (const [from, to] of edits) {
    if (!out.includes(from)) throw new Error(`fixture edit: "${from}" not found`);
    out = out.replace(from, to);
  }
  return out;
}

/** 1-based number of the first line holding `needle`. */
export function lineOf(text: string, needle: string): number {
  const idx = text.split('\n').findIndex((l) => l.includes(needle));
  if (idx < 0) throw new Error(`lineOf: "${needle}" not found`);
  return idx + 1;
}
