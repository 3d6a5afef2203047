// The record of denied flows, pure parts: the NFLOG stream as tcpdump writes it
// (a real capture), the bounded record, its file (schema and hash), and the
// NFLOG rules the compiler puts before each deny decision.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseRecordPrefix, recordedRules, recordPrefix } from '../../src/compile/denied-rules.js';
import { parseSince } from '../../src/denied/denied-command.js';
import { ipv6Text, type LoggedPacket, NflogStream, parseIpPacket } from '../../src/denied/nflog-stream.js';
import { CLEAN_WINDOW_MS, DeniedRecord } from '../../src/denied/record.js';
import { loadRecord, RECORD_FILE, saveRecord } from '../../src/denied/record-file.js';
import { AfwError } from '../../src/errors.js';
import { compileTexts, iface } from '../helpers/compile.js';
import { BASE_CONFIG, BASE_INVENTORY } from '../helpers/fixtures.js';

const CAPTURE = readFileSync(new URL('../fixtures/nflog/refused.pcap', import.meta.url));

function readAll(chunks: Buffer[]): LoggedPacket[] {
  const s = new NflogStream();
  const out: LoggedPacket[] = [];
  for (const c of chunks) s.push(c, (p) => out.push(p));
  return out;
}

describe('NflogStream (what tcpdump -i nflog:G -w - wrote, scripts/fixtures/capture-nflog.sh)', () => {
  it('reads the prefix, group, addresses, protocol and ports of each refused packet, both families', () => {
    const packets = readAll([CAPTURE]);
    expect(packets.map((p) => [p.group, p.prefix, p.family, p.src, p.dst, p.protocol, p.dstPort])).toEqual([
      [9900, 'afw 7ee339 default deny: controlPlane ingress', 4, '127.0.0.1', '127.0.0.1', 6, 4444],
      [9900, 'afw 7ee339 default deny: controlPlane ingress', 6, 'fd00::1', 'fd00::1', 6, 4444],
      [9900, 'afw 7ee339 default deny: controlPlane ingress', 4, '127.0.0.1', '127.0.0.1', 17, 5353],
    ]);
    for (const p of packets) {
      expect(p.srcPort).toBeGreaterThan(1023);
      expect(Math.abs(p.at - packets[0]!.at)).toBeLessThan(5000);
    }
  });

  it('gives the same packets whatever the chunks the pipe delivers (one byte at a time)', () => {
    const bytes = [...CAPTURE].map((b) => Buffer.from([b]));
    expect(readAll(bytes)).toEqual(readAll([CAPTURE]));
  });

  it('refuses a stream that is not a pcap of NFLOG records', () => {
    expect(() => readAll([Buffer.from('tcpdump: syntax error in filter expression\n')])).toThrow(/not a pcap stream/);
    const ethernet = Buffer.from(CAPTURE.subarray(0, 24));
    ethernet.writeUInt32LE(1, 20);
    expect(() => readAll([ethernet])).toThrow(/not an NFLOG capture \(link type 1\)/);
  });

  it('parses IPv6 past extension headers, and gives no ports for later fragments', () => {
    const v6 = Buffer.alloc(40 + 8 + 4);
    v6[0] = 0x60;
    v6[6] = 0; // hop-by-hop options
    v6[23] = 1; // ::1
    v6[39] = 2;
    v6[40] = 17; // next: udp
    v6[41] = 0; // 8 bytes
    v6.writeUInt16BE(40000, 48);
    v6.writeUInt16BE(53, 50);
    expect(parseIpPacket(v6)).toEqual({ family: 6, src: '::1', dst: '::2', protocol: 17, srcPort: 40000, dstPort: 53 });
    const frag = Buffer.alloc(24);
    frag[0] = 0x45;
    frag[9] = 6;
    frag.writeUInt16BE(185, 6); // offset 185 x 8: not the first fragment
    expect(parseIpPacket(frag)).toMatchObject({ protocol: 6, srcPort: null, dstPort: null });
    expect(ipv6Text(Buffer.from('20010db8000000000001000000000001', 'hex'), 0)).toBe('2001:db8::1:0:0:1');
  });
});

describe('DeniedRecord', () => {
  const key = (port: number, peer = '10.0.0.1') =>
    ({ direction: 'ingress', plane: 'controlPlane', peer, proto: 'tcp', port }) as const;

  it('counts packets per key with first and last seen, busiest first; --since and --top', () => {
    const r = new DeniedRecord(10, 1000);
    r.add(key(22), 'default deny: controlPlane ingress', 2000);
    r.add(key(22), 'default deny: controlPlane ingress', 5000);
    r.add(key(80), 'default deny: controlPlane ingress', 3000);
    expect(r.query().map((f) => [f.port, f.packets, f.firstSeen, f.lastSeen])).toEqual([
      [22, 2, 2000, 5000],
      [80, 1, 3000, 3000],
    ]);
    expect(r.query({ since: 4000 }).map((f) => f.port)).toEqual([22]);
    expect(r.query({ top: 1 })).toHaveLength(1);
  });

  it('holds at most maxFlows keys: each new key beyond is counted once in overflow, packets too', () => {
    const r = new DeniedRecord(3, 0);
    for (let port = 1; port <= 10; port++) r.add(key(port), 'x', port);
    r.add(key(9), 'x', 20); // an overflow key seen again: one key, two packets (remembered: 10 x maxFlows keys)
    const s = r.summary(100);
    expect([s.flows, s.overflow, s.overflowPackets]).toEqual([3, 7, 8]);
    r.setLimit(1); // a reload with a smaller bound: the least recently seen leave
    expect(r.query().map((f) => f.port)).toEqual([3]);
    expect(r.summary(100).overflow).toBe(9);
  });

  it('cleanSince: the start when nothing was refused, null while refusals go on, then the last refusal', () => {
    const r = new DeniedRecord(10, 1000);
    expect(r.cleanSince(2000)).toBe(1000);
    r.add(key(22), 'x', 3000);
    expect(r.cleanSince(3000 + CLEAN_WINDOW_MS - 1)).toBeNull();
    expect(r.cleanSince(3000 + CLEAN_WINDOW_MS)).toBe(3000);
    r.reset(9000);
    expect([r.size, r.cleanSince(9001)]).toEqual([0, 9000]);
  });
});

describe('the record file', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('round-trips, and refuses a damaged or edited file with its name, line and field', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'afw-rec-'));
    const r = new DeniedRecord(10, Date.parse('2026-12-01T10:00:00Z'));
    r.add(
      { direction: 'ingress', plane: 'controlPlane', peer: '10.9.0.7', proto: 'tcp', port: 22 },
      'default deny: controlPlane ingress',
      Date.parse('2026-12-01T10:05:00Z'),
    );
    await saveRecord(dir, 'node-1', r.head(), r.flowsNow());
    expect(await loadRecord(dir)).toEqual({ ...r.head(), flows: [...r.flowsNow()] });

    const file = path.join(dir, RECORD_FILE);
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.replace('"packets":1,', '"packets":100,'));
    const edited = await loadRecord(dir).catch((e: AfwError) => e);
    expect(edited).toBeInstanceOf(AfwError);
    expect((edited as AfwError).code).toBe('AFW_STATE_CORRUPT');
    expect((edited as AfwError).lines().join('\n')).toMatch(new RegExp(`${file}:\\d+:\\d+: hash: does not match`));

    writeFileSync(file, text.replace('"peer":"10.9.0.7"', '"peer":"10.9.0.7; rm -rf /"'));
    const bad = (await loadRecord(dir).catch((e: AfwError) => e)) as AfwError;
    // One flow per line: the error points at the flow's own line (the sixth).
    expect(bad.lines().join('\n')).toMatch(new RegExp(`${file}:6:\\d+: record\\.flows\\[0\\]\\.peer: not an IP address`));
    writeFileSync(file, text.slice(0, 40));
    expect(((await loadRecord(dir).catch((e: AfwError) => e)) as AfwError).message).toMatch(/not valid JSON/);
  });
});

describe('the NFLOG rules of the compiled ruleset', () => {
  it('stand before each deny decision with the same match, a rate limit and a prefix naming the rule', () => {
    const rs = compileTexts(BASE_CONFIG, BASE_INVENTORY, [iface('eth0', '10.100.0.1'), iface('eth1', '10.200.0.1')]);
    const chain = rs.families[0]!.chains.find((c) => c.name === 'AFW-CP-IN')!;
    const last = chain.rules.at(-1)!;
    const before = chain.rules.at(-2)!;
    expect(last.comment).toBe('default deny: controlPlane ingress');
    expect(before.verdict).toMatchObject({ kind: 'nflog', group: 9900, size: 128 });
    expect(before.match.limit).toEqual({ rate: '2000/second', burst: 2000 });
    expect(chain.rules.filter((r) => r.verdict.kind === 'nflog')).toHaveLength(1); // not before the INVALID drop
    const id = parseRecordPrefix((before.verdict as { prefix: string }).prefix)!.id;
    expect(recordedRules(rs).get(id)).toEqual({
      rule: 'default deny: controlPlane ingress',
      direction: 'ingress',
      planes: ['controlPlane'],
    });
  });

  it('keeps the prefix within 63 bytes of plain ASCII, the id telling long rules apart', () => {
    const long = `my-policy: ${'deny ingress tcp 1,2,3,4,5,6,7,8,9,10 from workloadPlane[etcd] '.repeat(3)}"quoted" é`;
    const p = recordPrefix('AFW-WP-IN', long);
    expect(Buffer.byteLength(p)).toBeLessThanOrEqual(63);
    expect(p).toMatch(/^afw [0-9a-f]{6} my-policy: deny ingress/);
    expect(p).not.toMatch(/["é]/);
    expect(parseRecordPrefix(recordPrefix('AFW-WP-IN', `${long}x`))!.id).not.toBe(parseRecordPrefix(p)!.id);
  });
});

describe('denied --since', () => {
  it('takes a duration back from now or an ISO time, and refuses anything else as a usage error', () => {
    expect(parseSince('90s', 100_000)).toBe(10_000);
    expect(parseSince('2h', 8_000_000)).toBe(8_000_000 - 7_200_000);
    expect(parseSince('2026-12-01T10:00:00Z', 0)).toBe(Date.parse('2026-12-01T10:00:00Z'));
    expect(() => parseSince('yesterday', 0)).toThrow(/--since yesterday: give a duration/);
  });
});
