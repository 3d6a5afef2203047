// The numeric IPv4 path of the inventory's CIDR check must agree with
// ipaddr.js on every address and CIDR, and the light address check with the
// full parser.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressFacts, cidrContains, inCidr, parseAddress, parseCidr } from '../../src/config/addresses.js';

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
});
