// The positional YAML parser is loaded by the first error, not by valid files.
import { createRequire } from 'node:module';
import { expect, it } from 'vitest';
import { parseConfig } from '../../src/config/validate-config.js';
import { parseInventory } from '../../src/config/validate-inventory.js';
import type { AfwError } from '../../src/errors.js';
import { BASE_CONFIG, BASE_INVENTORY, edit } from '../helpers/fixtures.js';

const cjs = createRequire(import.meta.url);
const yamlLoaded = () => Object.keys(cjs.cache).some((p) => /[/\\]node_modules[/\\]yaml[/\\]/.test(p));

it('valid files load without `yaml`; the first error loads it and still names the line', () => {
  parseConfig(BASE_CONFIG, '/etc/artesca-fw/config.yaml', { hostname: 'node-1' });
  parseInventory(BASE_INVENTORY, '/etc/artesca-fw/inventory.yaml');
  expect(yamlLoaded()).toBe(false);
  let err: AfwError | undefined;
  try {
    parseConfig(edit(BASE_CONFIG, [['denyAction: drop', 'denyAction: maybe']]), '/etc/artesca-fw/config.yaml', {
      hostname: 'node-1',
    });
  } catch (e) {
    err = e as AfwError;
  }
  expect(err?.problems[0]?.where).toMatchObject({ file: '/etc/artesca-fw/config.yaml', line: 16, field: 'denyAction' });
  expect(yamlLoaded()).toBe(true);
});
