// The numeric IPv4 path of the inventory's CIDR check must agree with
// ipaddr.js on every address and CIDR, and the light address check with the
// full parser.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addressFacts,
  cidrContains,
  cidrListMatcher,
  inCidr,
  ipv4Value,
  parseAddress,
  parseCidr,
} from '../../src/config/addresses.js';

const octet = fc.integer({ min: 0, max: 255 });
const v4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
const v4Cidr = fc.tuple(v4, fc.integer({ min: 0, max: 32 })).map(([a, p]) => {
  // Clear the host bits so that the CIDR parses.
  const n = a.split('.').reduce((x, o) => x * 256 + Number(o), 0);
  const net = p === 0 ? 0 : Math.floor(n / 2 ** (32 - p)) * 2 ** (32 - p);
  return `${[24, 16, 8, 0].map((s) => Math.floor(net / 2 ** s) % 256).join('.')}/${p}`;
});

describe('addresses', () => {
  it('inCidr agrees with ipaddr.js for IPv4', () => {
    fc.assert(
      fc.property(v4, v4Cidr, (a, c) => {
        const cidr = parseCidr(c).cidr!;
        expect(inCidr(a, cidr)).toBe(cidrContains(cidr, parseAddress(a)!));
      }),
      { numRuns: 5000 },
    );
    const cidr = parseCidr('10.100.0.0/24').cidr!;
    expect(inCidr('10.100.0.255', cidr)).toBe(true);
    expect(inCidr('10.100.1.0', cidr)).toBe(false);
    expect(inCidr('fd00::1', cidr)).toBe(false);
    expect(inCidr('fd00::1', parseCidr('fd00::/64').cidr!)).toBe(true);
  });

  it('addressFacts takes and refuses what parseAddress does, with the same text and family', () => {
    const texts = fc.oneof(
      v4,
      fc.constantFrom('010.1.1.1', '10.1', '256.1.1.1', '1.2.3.4.5', 'fd00::1', 'FD00:0::1', 'fe80::1%eth0', 'x', '', '1.2.3.04'),
    );
    fc.assert(
      fc.property(texts, (t) => {
        const full = parseAddress(t);
        expect(addressFacts(t)).toEqual(full && { text: full.text, family: full.family });
      }),
      { numRuns: 2000 },
    );
  });

  it('ipv4Value takes exactly canonical dotted-decimal IPv4, with its value', () => {
    // The reference: the regular expression the fast path replaced.
    const canonical = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;
    const reference = (t: string) => {
      const m = canonical.exec(t);
      if (!m) return -1;
      const parts = m.slice(1).map(Number);
      return parts.every((p) => p <= 255) ? parts.reduce((n, p) => n * 256 + p, 0) : -1;
    };
    const near = fc
      .array(fc.constantFrom('0', '1', '2', '5', '9', '.', '.', 'a', ':', ' ', '/', '-', '٣'), { maxLength: 17 })
      .map((cs) => cs.join(''));
    fc.assert(
      fc.property(fc.oneof(v4, near, fc.string({ maxLength: 16 })), (t) => {
        expect(ipv4Value(t)).toBe(reference(t));
      }),
      { numRuns: 20000 },
    );
    expect(ipv4Value('255.255.255.255')).toBe(2 ** 32 - 1);
    expect(ipv4Value('0.0.0.0')).toBe(0);
    for (const bad of ['1.2.3.4.', '.1.2.3', '1..2.3', '1.2.3.256', '1.2.3.00', '1.2.3.1000', '1.2.3', '1.2.3.4.5'])
      expect(ipv4Value(bad)).toBe(-1);
  });

  it('cidrListMatcher agrees with inCidr over the list, both families mixed', () => {
    const v6 = fc.constantFrom('fd00::1', 'fd00:1::5', '::ffff:10.0.0.1', '2001:db8::1', '10.0.0.01', 'x');
    const cidrs = fc.array(fc.oneof(v4Cidr, fc.constantFrom('fd00::/64', '::/0', '2001:db8::/32')), { maxLength: 4 });
    fc.assert(
      fc.property(cidrs, fc.array(fc.oneof(v4, v6), { minLength: 1, maxLength: 8 }), (list, texts) => {
        const parsed = list.map((c) => parseCidr(c).cidr!);
        const matches = cidrListMatcher(parsed);
        for (const t of texts) expect(matches(t)).toBe(parsed.some((c) => inCidr(t, c)));
      }),
      { numRuns: 3000 },
    );
  });
});
