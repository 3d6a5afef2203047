// metrics.listen: the node's control-plane address filled in from the
// membership, and the port opened to infra nodes only, by a policy that plan
// and explain name (test/kernel/monitoring.test.ts scrapes it for real).
import { afterAll, describe, expect, it } from 'vitest';
import { compileNode } from '../../src/agent/compile-node.js';
import { explain } from '../../src/compile/explain.js';
import { iface } from '../helpers/compile.js';
import { BASE_CONFIG, BASE_INVENTORY, edit, tempDir, writeFiles } from '../helpers/fixtures.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const compileWith = (listen: string) =>
  compileNode(
    writeFiles(
      tmp.dir,
      edit(BASE_CONFIG, [['stateDir: state', `stateDir: state\nmetrics:\n  listen: "${listen}"`]]),
      BASE_INVENTORY,
    ),
    {
      interfaces: [iface('cp0', '10.100.0.1'), iface('wp0', '10.200.0.1')],
    },
  );

describe('metrics.listen', () => {
  it('":PORT" serves on the node\'s own control-plane address from the membership', async () => {
    const node = await compileWith(':9901');
    expect(node.sources.config.metrics.listen).toEqual({ host: '10.100.0.1', port: 9901 });
  });

  it('opens its port to the infra nodes only, by the policy artesca-fw-metrics that explain names', async () => {
    const { ruleset } = await compileWith('10.100.0.1:9901');
    expect(ruleset.policies).toContain('artesca-fw-metrics');
    const q = (from: string) => explain(ruleset, { from, to: '10.100.0.1', protocol: 6, port: 9901, direction: 'ingress' });
    expect(q('10.100.0.2')).toMatchObject({
      verdict: 'allow',
      reason: 'artesca-fw-metrics: artesca-fw metrics (metrics.listen)',
    }); // infra
    expect(q('10.100.0.3')).toMatchObject({ verdict: 'deny', reason: 'default deny: controlPlane ingress' }); // no role
    expect(q('10.100.0.50')).toMatchObject({ verdict: 'deny' }); // not a member
    // Not on the workload plane.
    expect(
      explain(ruleset, { from: '10.200.0.2', to: '10.200.0.1', protocol: 6, port: 9901, direction: 'ingress' }).verdict,
    ).toBe('deny');
  });

  it('off by default: no policy, the port refused', async () => {
    const node = await compileNode(writeFiles(tmp.dir, BASE_CONFIG, BASE_INVENTORY), {
      interfaces: [iface('cp0', '10.100.0.1'), iface('wp0', '10.200.0.1')],
    });
    expect(node.sources.config.metrics.listen).toBeNull();
    expect(node.ruleset.policies).not.toContain('artesca-fw-metrics');
  });
});
