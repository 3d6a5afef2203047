// Backend detection in a namespace: kubelet's hint chains first, then the
// backend holding more rules; the config can force one. apply writes where
// detection points.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Lab, requireKernelTests } from '../../scripts/lab/netns.js';
import { BASE_CONFIG, BASE_INVENTORY, tempDir, writeFiles } from '../helpers/fixtures.js';

// Fails at once, naming what is missing, when not root or a tool is not installed.
requireKernelTests();

describe('iptables backend', () => {
  let lab: Lab;
  let tmp: ReturnType<typeof tempDir>;
  afterEach(async () => {
    await lab?.cleanup();
    tmp?.cleanup();
  });

  async function node(): Promise<{ ns: string; config: string }> {
    lab = new Lab('b');
    tmp = tempDir('afw-be-');
    const ns = await lab.ns('n');
    await lab.veth(ns, 'cp0', await lab.ns('other'), 'x0');
    await lab.addr(ns, 'cp0', '10.100.0.1/24', '10.200.0.1/24');
    const config = writeFiles(tmp.dir, BASE_CONFIG, BASE_INVENTORY);
    return { ns, config };
  }

  const backendOf = async (ns: string, config: string) => {
    const r = await lab.cli(ns, ['check', '--config', config, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout).backend as string;
  };
  const ours = async (ns: string, tool: string) => (await lab.must(ns, tool, [])).includes(':AFW-PREROUTING');

  it('kubelet hint chain in legacy: legacy, and apply writes there', async () => {
    const { ns, config } = await node();
    await lab.must(ns, 'iptables-legacy', ['-t', 'mangle', '-N', 'KUBE-IPTABLES-HINT']);
    expect(await backendOf(ns, config)).toMatch(/^legacy .*KUBE-IPTABLES-HINT/);
    const r = await lab.cli(ns, ['apply', '--config', config]);
    expect(r.code, r.stderr).toBe(0);
    expect(await ours(ns, 'iptables-legacy-save')).toBe(true);
    expect(await ours(ns, 'iptables-nft-save')).toBe(false);
    // A second apply is a no-op there too.
    const again = await lab.cli(ns, ['apply', '--config', config, '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ changed: false, backend: 'legacy' });
  });

  it('kubelet canary chain in nft wins over more legacy rules', async () => {
    const { ns, config } = await node();
    await lab.must(ns, 'iptables-nft', ['-t', 'mangle', '-N', 'KUBE-KUBELET-CANARY']);
    for (let i = 0; i < 3; i++)
      await lab.must(ns, 'iptables-legacy', ['-A', 'INPUT', '-p', 'tcp', '--dport', String(1000 + i), '-j', 'ACCEPT']);
    expect(await backendOf(ns, config)).toMatch(/^nft /);
  });

  it('no hint: the backend with more rules', async () => {
    const { ns, config } = await node();
    for (let i = 0; i < 3; i++)
      await lab.must(ns, 'iptables-legacy', ['-A', 'INPUT', '-p', 'tcp', '--dport', String(1000 + i), '-j', 'ACCEPT']);
    expect(await backendOf(ns, config)).toMatch(/^legacy .*more rules/);
  });

  it('nothing anywhere: nft; and backend: legacy in the config overrides', async () => {
    const { ns, config } = await node();
    expect(await backendOf(ns, config)).toMatch(/^nft /);
    writeFileSync(config, `${BASE_CONFIG}backend: legacy\n`);
    expect(await backendOf(ns, config)).toMatch(/^legacy \(set by backend in the config\)/);
    const r = await lab.cli(ns, ['apply', '--config', config]);
    expect(r.code, r.stderr).toBe(0);
    expect(await ours(ns, 'iptables-legacy-save')).toBe(true);
    expect(await ours(ns, 'ip6tables-legacy-save')).toBe(true);
    const f = await lab.cli(ns, ['flush', '--config', config]);
    expect(f.code, f.stderr).toBe(0);
    expect(await ours(ns, 'iptables-legacy-save')).toBe(false);
    expect(path.isAbsolute(config)).toBe(true);
  });
});
