// explain walks the compiled ruleset: verdicts and deciding rules for the
// example node, without the kernel (test/kernel/operator.test.ts compares the
// same with real probes).
import { describe, expect, it } from 'vitest';
import { explain, type PacketQuery } from '../../src/compile/explain.js';
import { compileTexts, iface } from '../helpers/compile.js';
import { BASE_CONFIG, BASE_INVENTORY } from '../helpers/fixtures.js';

const rs = compileTexts(BASE_CONFIG, BASE_INVENTORY, [iface('cp0', '10.100.0.1', '10.100.0.100'), iface('wp0', '10.200.0.1')]);
const tcp = (from: string, to: string, port: number, direction: 'ingress' | 'egress' = 'ingress'): PacketQuery => ({
  from,
  to,
  protocol: 6,
  port,
  direction,
});

describe('explain', () => {
  it('allows by the deciding policy rule', () => {
    const e = explain(rs, tcp('10.100.0.2', '10.100.0.1', 2379));
    expect(e).toMatchObject({ verdict: 'allow', endpoint: 'CP', chain: 'AFW-CP-IN', reason: 'control-plane-etcd: etcd client' });
    expect(e.rule?.origin).toMatchObject({ kind: 'policy', policy: 'control-plane-etcd', direction: 'ingress', rule: 0 });
  });

  it('denies by default what no rule allows, naming the default deny', () => {
    expect(explain(rs, tcp('10.100.0.3', '10.100.0.1', 2379))).toMatchObject({
      verdict: 'deny',
      reason: 'default deny: controlPlane ingress',
    });
    expect(explain(rs, tcp('10.100.0.50', '10.100.0.1', 6443)).verdict).toBe('deny');
  });

  it('VIPs are host addresses of their plane; failsafe and ICMP base rules decide too', () => {
    expect(explain(rs, tcp('10.100.0.2', '10.100.0.100', 6443)).verdict).toBe('allow');
    expect(explain(rs, { from: '10.100.0.50', to: '10.100.0.1', protocol: 17, port: 68, direction: 'ingress' })).toMatchObject({
      verdict: 'allow',
      reason: 'failsafe: udp:68',
    });
    expect(explain(rs, { from: '10.100.0.50', to: '10.100.0.1', protocol: 1, icmpType: 8, direction: 'ingress' })).toMatchObject({
      verdict: 'allow',
      reason: 'base: icmp echo-request',
    });
    expect(explain(rs, { from: '10.100.0.50', to: '10.100.0.1', protocol: 1, icmpType: 5, direction: 'ingress' }).verdict).toBe(
      'deny',
    );
  });

  it('egress: open TCP, closed other protocols; an address of no plane interface is not policed', () => {
    expect(explain(rs, tcp('10.100.0.1', '192.0.2.1', 443, 'egress'))).toMatchObject({
      verdict: 'allow',
      reason: 'control-plane-general: all TCP egress',
    });
    expect(explain(rs, { from: '10.100.0.1', to: '192.0.2.1', protocol: 47, direction: 'egress' }).verdict).toBe('deny');
    expect(explain(rs, tcp('10.100.0.2', '10.9.9.9', 22)).verdict).toBe('not policed');
  });

  it("failsafe: calico lets in what Felix's failsafes did (SSH from a workstation), on both planes; the default does not", () => {
    const calico = compileTexts(
      BASE_CONFIG.replace('failsafe:\n  inbound: ["udp:68"]\n  outbound: []', 'failsafe: calico'),
      BASE_INVENTORY,
      [iface('cp0', '10.100.0.1', '10.100.0.100'), iface('wp0', '10.200.0.1')],
    );
    const workstation = '10.100.0.50'; // in no inventory
    expect(explain(rs, tcp(workstation, '10.100.0.1', 22)).verdict).toBe('deny');
    expect(explain(calico, tcp(workstation, '10.100.0.1', 22))).toMatchObject({ verdict: 'allow', reason: 'failsafe: tcp:22' });
    expect(explain(calico, tcp('10.200.0.50', '10.200.0.1', 6443))).toMatchObject({
      verdict: 'allow',
      reason: 'failsafe: tcp:6443',
    });
    expect(explain(calico, { from: '10.200.0.1', to: '10.200.0.50', protocol: 17, port: 53, direction: 'egress' })).toMatchObject(
      {
        verdict: 'allow',
        reason: 'failsafe: udp:53',
      },
    );
    // Only the listed ports: the unlisted one stays closed.
    expect(explain(calico, tcp(workstation, '10.100.0.1', 9999)).verdict).toBe('deny');
  });
});
