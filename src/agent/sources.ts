// Reads config.yaml and the inventory it names from disk and validates them
// together. The only file I/O of the load path; everything it calls is pure.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { HostInterface } from '../compile/resolve.js';
import type { Config, Inventory } from '../config/model.js';
import { type LoadedConfig, parseConfig } from '../config/validate-config.js';
import { checkCluster, type LoadedInventory, parseInventory } from '../config/validate-inventory.js';
import type { ChunkedYamlReader } from '../config/yaml-chunks.js';
import { AfwError } from '../errors.js';

export const DEFAULT_CONFIG = '/etc/artesca-fw/config.yaml';

export interface Sources {
  config: Config;
  inventory: Inventory;
  loadedConfig: LoadedConfig;
  loadedInventory: LoadedInventory;
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new AfwError('AFW_FILE_READ', `${file}: cannot read the ${what}: ${why}`, { cause: err });
  }
}

export function configPath(explicit?: string): string {
  return path.resolve(explicit ?? process.env.ARTESCA_FW_CONFIG ?? DEFAULT_CONFIG);
}

export async function loadConfigOnly(file: string): Promise<LoadedConfig> {
  return parseConfig(await readText(file, 'config'), file, { hostname: os.hostname() });
}

/** `inventoryReader`: the daemon's memory of parsed inventory items, so an edit re-parses only what changed. */
export async function loadSources(file: string, inventoryReader?: ChunkedYamlReader): Promise<Sources> {
  const loadedConfig = await loadConfigOnly(file);
  const invFile = loadedConfig.config.inventoryFile;
  const loadedInventory = parseInventory(await readText(invFile, 'inventory'), invFile, inventoryReader);
  checkCluster(loadedConfig, loadedInventory);
  return { config: loadedConfig.config, inventory: loadedInventory.inventory, loadedConfig, loadedInventory };
}

/** The host's interfaces and addresses, from getifaddrs (no process spawned). */
export function hostInterfaces(): HostInterface[] {
  const out: HostInterface[] = [];
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    out.push({
      name,
      addresses: (addrs ?? []).map((a) => ({ address: a.address.replace(/%.*$/, ''), family: a.family === 'IPv6' ? 6 : 4 })),
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}
