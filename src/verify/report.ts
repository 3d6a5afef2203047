// verify's results for a person: mismatches first (each with the rule that
// should decide), then counts, then one matrix per plane, peers down and
// ports across, a cell each. Pure.
import type { Plane } from '../config/model.js';
import type { Answer, Check } from './plan.js';

export interface Result extends Check {
  actual: Answer;
  seen: string;
}

export interface VerifyReport {
  from: string;
  probes: number;
  asExpected: number;
  mismatches: Result[];
  /** UDP ports the policies name: a probe cannot tell a refused datagram from an ignored one. */
  notProbed: { proto: string; port: number; plane: Plane }[];
  results: Result[];
}

const CELL = { reached: 'o', filtered: '.' } as const;
const WRONG = { reached: '!', filtered: '#' } as const;

export function formatReport(r: VerifyReport): string {
  const lines: string[] = [];
  lines.push(`verify from ${r.from}: ${r.probes} probe(s), ${r.asExpected} as expected, ${r.mismatches.length} mismatch(es)`);
  if (r.mismatches.length) {
    lines.push('', 'MISMATCHES (node, address, plane, proto/port: expected, actual; the rule that should decide)');
    for (const m of r.mismatches) {
      lines.push(
        `  ${m.node} ${m.address} ${m.plane} ${m.proto}/${m.port}: expected ${m.expected}, actual ${m.actual} (${m.seen}); ${m.rule}`,
      );
    }
  }
  for (const plane of ['controlPlane', 'workloadPlane'] as const) {
    const mine = r.results.filter((x) => x.plane === plane);
    if (!mine.length) continue;
    const ports = [...new Set(mine.map((x) => x.port))].sort((a, b) => a - b);
    const rows = [...new Set(mine.map((x) => `${x.node} ${x.address}`))];
    const head = rows.reduce((w, x) => Math.max(w, x.length), 0);
    const width = ports.reduce((w, p) => Math.max(w, String(p).length + (mine.find((x) => x.port === p)?.unlisted ? 1 : 0)), 1);
    lines.push('', `${plane}:`);
    // Port numbers written down the columns, so that a matrix of many ports stays narrow.
    for (let d = 0; d < width; d++) {
      const label = ports.map((p) => {
        const text = `${p}${mine.find((x) => x.port === p)?.unlisted ? '*' : ''}`.padStart(width);
        return text[d]!;
      });
      lines.push(`  ${''.padEnd(head)}  ${label.join(' ')}`);
    }
    for (const row of rows) {
      const cells = ports.map((p) => {
        const x = mine.find((y) => `${y.node} ${y.address}` === row && y.port === p);
        if (!x) return ' ';
        return x.actual === x.expected ? CELL[x.actual] : WRONG[x.actual];
      });
      lines.push(`  ${row.padEnd(head)}  ${cells.join(' ')}`);
    }
  }
  lines.push(
    '',
    "o reached, as expected   . filtered, as expected   ! reached, should be filtered   # filtered, should be reached   * the plane's unlisted port",
  );
  if (r.notProbed.length) {
    const udp = [...new Set(r.notProbed.map((n) => n.port))].sort((a, b) => a - b);
    lines.push(`not probed: udp ${udp.join(', ')} (a UDP probe cannot tell a refused datagram from one nobody answers)`);
  }
  return lines.join('\n');
}
