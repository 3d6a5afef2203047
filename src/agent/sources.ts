// Reads config.yaml and the inventory it names from disk and validates them
// together. The only file I/O of the load path; everything it calls is pure.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { HostInterface } from '../compile/resolve.js';
import type { Config, Inventory } from '../config/model.js';
import { type LoadedConfig, parseConfig } from '../config/validate-config.js';
import {
  type ClusterCheckMemo,
  checkCluster,
  type LoadedInventory,
  parseInventory,
  withLocalRoles,
} from '../config/validate-inventory.js';
import type { ChunkedYamlReader } from '../config/yaml-chunks.js';
import { AfwError } from '../errors.js';

export const DEFAULT_CONFIG = '/etc/artesca-fw/config.yaml';

import { type ListedMembership, listMembershipOnce } from './kube-once.js';

export interface Sources {
  config: Config;
  inventory: Inventory;
  loadedConfig: LoadedConfig;
  loadedInventory: LoadedInventory;
  /** Where the inventory came from: the file, the daemon's Kubernetes membership, or one list made for this command. */
  inventorySource: 'file' | 'kubernetes' | 'kubernetes cache';
  /** One-shot commands with inventory.kubernetes: the list they made. */
  listed?: ListedMembership;
}

export interface SourceOptions {
  /** The daemon's memory of parsed inventory items, so an edit re-parses only what changed. */
  inventoryReader?: ChunkedYamlReader;
  /**
   * The daemon's membership from Kubernetes (undefined until it has one: the
   * cache file is read). Absent: a one-shot command, which lists the Nodes once.
   */
  membership?: () => LoadedInventory | undefined;
  /**
   * Told of each file read, with the digest of the very text that was read
   * (contentDigest), before it is parsed: the daemon compares what the files
   * hold later with what it acted on.
   */
  onRead?: (file: string, digest: string) => void;
  /**
   * The daemon's memory of the last sources loaded: when the config and
   * inventory texts (by digest), the membership and the host name are what
   * they were, those sources are given again, nothing parsed or checked (a
   * config manager rewriting the same files, an event that changed nothing).
   */
  memo?: SourcesMemo;
}

/** Owned by the caller (the reconciler), passed to each load. */
export interface SourcesMemo {
  last: {
    /** The host name and the config text's digest. */
    configKey: string;
    /** Where the inventory came from, and its text's digest (none for a membership, compared by identity). */
    inventoryKey: string;
    membership: LoadedInventory | undefined;
    loadedConfig: LoadedConfig;
    sources: Sources;
  } | null;
  /** The nodes found inside the plane CIDRs: an edit or event checks only the nodes it changed. */
  cluster: ClusterCheckMemo;
}

/** The digest of a file's text as read (null: it could not be read). */
export function contentDigest(text: string | null): string {
  return text === null ? 'unreadable' : createHash('sha256').update(text).digest('base64');
}

/** A file's text, and its digest when someone wants it (`onRead`, or `digest`). */
async function readText(
  file: string,
  what: string,
  onRead?: SourceOptions['onRead'],
  digest = false,
): Promise<{ text: string; digest?: string }> {
  try {
    const text = await readFile(file, 'utf8');
    if (!onRead && !digest) return { text };
    const d = contentDigest(text);
    onRead?.(file, d);
    return { text, digest: d };
  } catch (err) {
    onRead?.(file, contentDigest(null));
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new AfwError('AFW_FILE_READ', `${file}: cannot read the ${what}: ${why}`, { cause: err });
  }
}

export function configPath(explicit?: string): string {
  return path.resolve(explicit ?? process.env.ARTESCA_FW_CONFIG ?? DEFAULT_CONFIG);
}

export async function loadConfigOnly(file: string, onRead?: SourceOptions['onRead']): Promise<LoadedConfig> {
  return parseConfig((await readText(file, 'config', onRead)).text, file, { hostname: os.hostname() });
}

export async function loadSources(file: string, opts: SourceOptions = {}): Promise<Sources> {
  const memo = opts.memo;
  const hostname = os.hostname();
  const configRead = await readText(file, 'config', opts.onRead, memo !== undefined);
  const configKey = `${hostname}\0${configRead.digest}`;
  const last = memo?.last;
  // The same config text reads the same (the host name aside): only the inventory can have moved.
  const loadedConfig = last?.configKey === configKey ? last.loadedConfig : parseConfig(configRead.text, file, { hostname });
  const invFile = loadedConfig.config.inventoryFile;
  let loadedInventory: LoadedInventory | undefined;
  let inventorySource: Sources['inventorySource'] = 'file';
  let listed: ListedMembership | undefined;
  if (loadedConfig.config.kubernetes) {
    if (opts.membership) {
      loadedInventory = opts.membership();
      inventorySource = loadedInventory ? 'kubernetes' : 'kubernetes cache';
    } else {
      listed = await listMembershipOnce(loadedConfig.config);
      loadedInventory = listed.loaded;
      inventorySource = 'kubernetes';
    }
  }
  const membership = loadedInventory;
  const inventoryRead = loadedInventory ? undefined : await readText(invFile, 'inventory', opts.onRead, memo !== undefined);
  const inventoryKey = `${inventorySource}\0${inventoryRead?.digest ?? ''}`;
  const same = last?.configKey === configKey && last.inventoryKey === inventoryKey && last.membership === membership;
  if (same && !listed) return last.sources;
  loadedInventory ??= parseInventory(inventoryRead!.text, invFile, opts.inventoryReader);
  checkCluster(loadedConfig, loadedInventory, memo?.cluster);
  const config = withLocalRoles(loadedConfig.config, loadedInventory.inventory);
  const sources: Sources = {
    config,
    inventory: loadedInventory.inventory,
    loadedConfig: { ...loadedConfig, config },
    loadedInventory,
    inventorySource,
    ...(listed ? { listed } : {}),
  };
  if (memo) memo.last = { configKey, inventoryKey, membership, loadedConfig, sources };
  return sources;
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

/** The interfaces and their addresses as one comparable string (what a compile resolved the planes against). */
export function interfaceSignature(interfaces: HostInterface[]): string {
  return interfaces
    .map(
      (i) =>
        `${i.name}=${i.addresses
          .map((a) => a.address)
          .sort()
          .join(',')}`,
    )
    .join(';');
}
