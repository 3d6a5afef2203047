// preview's pure half: conntrack -L output parsed (lines as the real tool
// printed them in a namespace), and tracked flows judged against a compiled
// ruleset with explain's walk, as enforced, grouped by key.
import { describe, expect, it } from 'vitest';
import { parseConntrack, type TrackedFlow } from '../../src/cutover/conntrack-list.js';
import { formatPreview, previewFlows } from '../../src/cutover/preview.js';
import { compileTexts, iface } from '../helpers/compile.js';
import { BASE_CONFIG, BASE_INVENTORY } from '../helpers/fixtures.js';

// conntrack v1.4.7, `conntrack -L -f ipv4` and `-f ipv6`, captured in a namespace.
const V4 = `tcp      6 432000 ESTABLISHED src=127.0.0.1 dst=127.0.0.1 sport=39416 dport=8888 src=127.0.0.1 dst=127.0.0.1 sport=8888 dport=39416 [ASSURED] mark=0 use=1
tcp      6 431999 ESTABLISHED src=127.0.0.1 dst=127.0.0.1 sport=44378 dport=7777 src=127.0.0.1 dst=127.0.0.1 sport=8888 dport=44378 [ASSURED] mark=0 use=1
gre      47 29 src=127.0.0.1 dst=127.0.0.1 srckey=0x0 dstkey=0x0 [UNREPLIED] src=127.0.0.1 dst=127.0.0.1 srckey=0x0 dstkey=0x0 mark=0 use=1
udp      17 29 src=127.0.0.1 dst=127.0.0.1 sport=41164 dport=5353 [UNREPLIED] src=127.0.0.1 dst=127.0.0.1 sport=5353 dport=41164 mark=0 use=1
icmp     1 29 src=127.0.0.1 dst=127.0.0.1 type=8 code=0 id=0 src=127.0.0.1 dst=127.0.0.1 type=0 code=0 id=0 mark=0 use=1
`;
const V6 = `tcp      6 431999 ESTABLISHED src=::1 dst=::1 sport=41236 dport=8889 src=::1 dst=::1 sport=8889 dport=41236 [ASSURED] mark=0 use=1
`;

describe('conntrack -L', () => {
  it('reads the original tuple of each protocol (the one before DNAT), and its state', () => {
    const flows = parseConntrack(V4, 4);
    expect(flows).toHaveLength(5);
    // 7777 was DNAT-ed to 8888: the original tuple keeps 7777.
    expect(flows[1]).toEqual({
      family: 4,
      proto: 'tcp',
      protoNum: 6,
      state: 'ESTABLISHED',
      src: '127.0.0.1',
      dst: '127.0.0.1',
      sport: 44378,
      dport: 7777,
    });
    expect(flows[2]).toEqual({ family: 4, proto: 'gre', protoNum: 47, src: '127.0.0.1', dst: '127.0.0.1' });
    expect(flows[3]).toMatchObject({ proto: 'udp', protoNum: 17, dport: 5353 });
    expect(flows[4]).toMatchObject({ proto: 'icmp', protoNum: 1, icmpType: 8 });
    expect(parseConntrack(V6, 6)).toEqual([
      { family: 6, proto: 'tcp', protoNum: 6, state: 'ESTABLISHED', src: '::1', dst: '::1', sport: 41236, dport: 8889 },
    ]);
    expect(parseConntrack('conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.\n\n', 4)).toEqual([]);
  });
});

describe('preview: tracked flows judged against a ruleset', () => {
  const rs = compileTexts(BASE_CONFIG, BASE_INVENTORY, [iface('cp0', '10.100.0.1', '10.100.0.100'), iface('wp0', '10.200.0.1')]);
  const tcp = (src: string, dst: string, dport: number): TrackedFlow => ({
    family: 4,
    proto: 'tcp',
    protoNum: 6,
    src,
    dst,
    sport: 40000,
    dport,
  });
  const flows: TrackedFlow[] = [
    tcp('10.100.0.50', '10.100.0.1', 22), // an outsider's SSH: default deny
    tcp('10.100.0.50', '10.100.0.1', 22), // a second entry of the same key
    tcp('10.100.0.2', '10.100.0.1', 2379), // node-2 is etcd: allowed
    tcp('10.100.0.3', '10.100.0.1', 2379), // node-3 is not: refused
    tcp('10.100.0.50', '10.200.0.1', 9999), // DNAT-ed to a pod, judged on the node's address and port
    tcp('10.100.0.1', '192.0.2.1', 443), // egress TCP: allowed
    { family: 4, proto: 'gre', protoNum: 47, src: '10.100.0.1', dst: '10.100.0.50' }, // egress GRE: refused
    tcp('127.0.0.1', '127.0.0.1', 8888), // local: not judged
    tcp('10.244.0.2', '10.9.9.9', 80), // routed through the host: not judged
  ];

  it('lists exactly the refused keys, with entries, the deciding rule and when they break; counts what it judged', () => {
    const r = previewFlows(rs, flows, { hash: 'abc', revoked: new Set() });
    expect(r.checked).toBe(7);
    expect(r.cuts).toEqual([
      {
        direction: 'egress',
        plane: 'controlPlane',
        peer: '10.100.0.50',
        proto: 'gre',
        entries: 1,
        rule: 'default deny: controlPlane egress',
        breaks: 'at its next connection',
      },
      {
        direction: 'ingress',
        plane: 'controlPlane',
        peer: '10.100.0.3',
        proto: 'tcp',
        port: 2379,
        entries: 1,
        rule: 'default deny: controlPlane ingress',
        breaks: 'at its next connection',
      },
      {
        direction: 'ingress',
        plane: 'controlPlane',
        peer: '10.100.0.50',
        proto: 'tcp',
        port: 22,
        entries: 2,
        rule: 'default deny: controlPlane ingress',
        breaks: 'at its next connection',
      },
      {
        direction: 'ingress',
        plane: 'workloadPlane',
        peer: '10.100.0.50',
        proto: 'tcp',
        port: 9999,
        entries: 1,
        rule: 'default deny: workloadPlane ingress',
        breaks: 'at its next connection',
      },
    ]);
    expect(formatPreview(r)).toMatch(
      /^ruleset abc, judged as enforced: 7 tracked flow\(s\) checked; 4 would be refused:\n {2}egress controlPlane 10\.100\.0\.50 gre: 1 entry, default deny: controlPlane egress; breaks at its next connection\n/,
    );
  });

  it('judges as enforced whatever the mode of the config, and says when a revoked peer is cut at once', () => {
    const audit = compileTexts(BASE_CONFIG.replace('mode: enforce', 'mode: audit'), BASE_INVENTORY, [
      iface('cp0', '10.100.0.1', '10.100.0.100'),
      iface('wp0', '10.200.0.1'),
    ]);
    expect(audit.mode).toBe('audit');
    const r = previewFlows(audit, flows, { hash: 'abc', revoked: new Set(['10.100.0.3']) });
    expect(r.cuts).toHaveLength(4);
    expect(r.cuts.find((c) => c.peer === '10.100.0.3')).toMatchObject({
      rule: 'default deny: controlPlane ingress',
      breaks: 'at once (revoked peer: its connections are cut)',
    });
  });

  it('nothing refused: exit-0 text', () => {
    const r = previewFlows(rs, [tcp('10.100.0.2', '10.100.0.1', 2379)], { hash: 'abc', revoked: new Set() });
    expect(r).toEqual({ ruleset: 'abc', checked: 1, cuts: [] });
    expect(formatPreview(r)).toBe('ruleset abc, judged as enforced: 1 tracked flow(s) checked; none would be refused.');
  });
});
