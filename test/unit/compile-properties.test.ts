// Properties of the compiler over random clusters and random user policies:
// it is deterministic, every accept traces back to a reason, and the rule
// count does not depend on the number of nodes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { planText } from '../../src/compile/plan-text.js';
import { renderRule } from '../../src/compile/render-iptables.js';
import type { Ruleset } from '../../src/compile/ruleset.js';
import { ROLES } from '../../src/config/model.js';
import { parseConfig } from '../../src/config/validate-config.js';
import { effectivePolicies } from '../../src/policy/effective.js';
import { compileTexts, iface } from '../helpers/compile.js';

const roleSet = fc.subarray([...ROLES]);
const port = fc.integer({ min: 1, max: 65535 });

const ruleArb = (dir: 'from' | 'to') =>
  fc
    .record(
      {
        action: fc.constantFrom('allow', 'deny', 'log'),
        protocol: fc.constantFrom('tcp', 'udp', 'icmp', 'vrrp', 'icmpv6'),
        ports: fc.array(port, { minLength: 1, maxLength: 20 }),
        peer: fc.oneof(
          fc.constant(undefined),
          fc.record({
            plane: fc.constantFrom('controlPlane', 'workloadPlane'),
            roles: fc.option(
              roleSet.filter((r) => r.length > 0),
              { nil: undefined },
            ),
          }),
          fc.record({ cidrs: fc.subarray(['10.0.0.0/8', '192.168.0.0/16', 'fd00::/8', '0.0.0.0/0'], { minLength: 1 }) }),
        ),
      },
      { requiredKeys: ['action', 'protocol'] },
    )
    .map((r) => {
      const out: Record<string, unknown> = { action: r.action, protocol: r.protocol };
      if ((r.protocol === 'tcp' || r.protocol === 'udp') && r.ports) out.ports = r.ports;
      if (r.peer) out[dir] = Object.fromEntries(Object.entries(r.peer).filter(([, v]) => v !== undefined));
      return out;
    });

const policyArb = fc.record({
  name: fc.constantFrom('extra-a', 'extra-b', 'control-plane-etcd', 'workload-plane'),
  order: fc.integer({ min: 0, max: 500 }),
  appliesTo: fc.record({ plane: fc.constantFrom('controlPlane', 'workloadPlane') }),
  ingress: fc.array(ruleArb('from'), { maxLength: 3 }),
  egress: fc.array(ruleArb('to'), { maxLength: 3 }),
});

const clusterArb = fc.record({
  localRoles: roleSet,
  others: fc.array(roleSet, { minLength: 0, maxLength: 30 }),
  policies: fc.uniqueArray(policyArb, { selector: (p) => p.name, maxLength: 3 }),
  mode: fc.constantFrom('enforce', 'audit'),
  denyAction: fc.constantFrom('drop', 'reject'),
  icmp: fc.constantFrom('essential', 'all', 'none'),
  shared: fc.boolean(),
});

type Cluster = typeof clusterArb extends fc.Arbitrary<infer T> ? T : never;

function texts(c: Cluster, order: 'asc' | 'desc' = 'asc') {
  const nodes = [c.localRoles, ...c.others].map((roles, i) => ({
    name: `node-${i + 1}`,
    roles,
    controlPlaneIP: `10.100.${Math.floor((i + 1) / 250)}.${((i + 1) % 250) + 1}`,
    workloadPlaneIP: `10.200.${Math.floor((i + 1) / 250)}.${((i + 1) % 250) + 1}`,
  }));
  if (order === 'desc') nodes.reverse();
  const config = {
    apiVersion: 'artesca-fw/v1',
    node: { name: 'node-1', roles: c.localRoles },
    networks: { controlPlane: { cidr: '10.100.0.0/16' }, workloadPlane: { cidr: '10.200.0.0/16' } },
    virtualIPs: { management: ['10.100.9.9'], data: ['10.200.9.9'] },
    inventory: { file: 'inventory.yaml' },
    mode: c.mode,
    denyAction: c.denyAction,
    icmp: c.icmp,
    policies: c.policies,
  };
  return { config: stringify(config), inventory: stringify({ apiVersion: 'artesca-fw/v1', nodes }) };
}

function build(c: Cluster, order: 'asc' | 'desc' = 'asc'): Ruleset {
  const t = texts(c, order);
  const ifs = c.shared ? [iface('eth0', '10.100.0.2', '10.200.0.2')] : [iface('eth1', '10.200.0.2'), iface('eth0', '10.100.0.2')];
  return compileTexts(t.config, t.inventory, order === 'desc' ? [...ifs].reverse() : ifs);
}

describe('compiler properties', () => {
  it('is deterministic: same input, or inventory and interfaces in another order, same output', () => {
    fc.assert(
      fc.property(clusterArb, (c) => {
        const a = planText(build(c)).text;
        expect(planText(build(c)).text).toBe(a);
        expect(planText(build(c, 'desc')).text).toBe(a);
      }),
      { numRuns: 60 },
    );
  });

  it('every accept traces back to an allow rule of a policy, a base rule or a failsafe entry', () => {
    fc.assert(
      fc.property(clusterArb, (c) => {
        const rs = build(c);
        const t = texts(c);
        const cfg = parseConfig(t.config, '/etc/artesca-fw/config.yaml', { hostname: 'x' }).config;
        const policies = new Map(effectivePolicies(cfg.policies).map((p) => [p.name, p]));
        for (const fr of rs.families) {
          for (const chain of fr.chains) {
            for (const rule of chain.rules) {
              const spec = renderRule(rule, fr.family).spec;
              if (!/ -j RETURN$/.test(spec) || chain.name === 'AFW-PREROUTING') continue;
              const o = rule.origin;
              expect(['policy', 'base', 'failsafe']).toContain(o.kind);
              if (o.kind === 'policy') {
                const p = policies.get(o.policy);
                expect(p, `policy ${o.policy}`).toBeDefined();
                const src = p![o.direction][o.rule];
                expect(src?.action).toBe('allow');
                if (src?.protocol) expect(rule.match.protocol).toBe(src.protocol.number);
                else expect(rule.match.protocol).toBeUndefined();
                for (const d of rule.match.dports ?? []) expect(src?.ports).toContainEqual(d);
                expect(chain.name.endsWith(o.direction === 'ingress' ? '-IN' : '-OUT')).toBe(true);
                expect(rs.policies).toContain(o.policy);
              }
              if (o.kind === 'failsafe')
                expect([...cfg.failsafe.inbound, ...cfg.failsafe.outbound].map((f) => f.text)).toContain(o.entry);
            }
          }
        }
      }),
      { numRuns: 80 },
    );
  });

  it('the number of rules does not grow with the number of nodes', () => {
    fc.assert(
      fc.property(clusterArb, fc.integer({ min: 30, max: 400 }), (c, extra) => {
        const small = build({ ...c, others: [['master'], ['etcd'], ['infra'], ['bootstrap'], ['registry']] });
        const big = build({ ...c, others: Array.from({ length: extra }, (_, i) => [ROLES[i % ROLES.length]!]) });
        const count = (rs: Ruleset) => rs.families.reduce((s, f) => s + f.chains.reduce((x, ch) => x + ch.rules.length, 0), 0);
        expect(count(big)).toBe(count(small));
        expect(big.sets.map((s) => s.name)).toEqual(small.sets.map((s) => s.name));
      }),
      { numRuns: 25 },
    );
  });

  it('every chain and set name fits the kernel limits and carries the prefix', () => {
    fc.assert(
      fc.property(clusterArb, (c) => {
        const rs = build(c);
        for (const fr of rs.families) for (const ch of fr.chains) expect(ch.name).toMatch(/^AFW-[A-Z-]{1,24}$/);
        for (const s of rs.sets) expect(s.name.length + 4).toBeLessThanOrEqual(31);
        for (const s of rs.sets) expect(s.name.startsWith('afw')).toBe(true);
      }),
      { numRuns: 40 },
    );
  });
});
