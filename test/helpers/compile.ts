// Compiles config and inventory texts without touching the disk or the host.
import { compile } from '../../src/compile/compile.js';
import type { HostInterface } from '../../src/compile/resolve.js';
import type { Ruleset } from '../../src/compile/ruleset.js';
import { parseConfig } from '../../src/config/validate-config.js';
import { checkCluster, parseInventory } from '../../src/config/validate-inventory.js';

export function compileTexts(configText: string, inventoryText: string, interfaces: HostInterface[]): Ruleset {
  const cfg = parseConfig(configText, '/etc/artesca-fw/config.yaml', { hostname: 'test-host' });
  const inv = parseInventory(inventoryText, '/etc/artesca-fw/inventory.yaml');
  checkCluster(cfg, inv);
  return compile({ config: cfg.config, inventory: inv.inventory, interfaces });
}

export function iface(name: string, ...addresses: string[]): HostInterface {
  return { name, addresses: addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })) };
}

/** The example config of ../shared/spec/examples turned into node N's config. */
export function exampleConfigFor(exampleConfig: string, name: string, roles: string[]): string {
  return exampleConfig.replace(/name: node-1/, `name: ${name}`).replace(/roles: \[[^\]]*\]/, `roles: [${roles.join(', ')}]`);
}
