// verify's results for a person: mismatches first (each with the rule that
// should decide), then counts, then one matrix per plane, peers down and
// ports across, a cell each. Pure.
import type { Plane } from '../config/model.js';
import type { Answer, Check, Proto, Skipped } from './plan.js';

export interface Result extends Check {
  actual: Answer;
  seen: string;
}

/** A probe made whose answer cannot be held against an expectation, and why. */
export interface NotJudged extends Omit<Check, 'expected' | 'rule'> {
  actual: Answer;
  seen: string;
  why: string;
}

export interface VerifyReport {
  from: string;
  /** Probes made: judged (results) and not judged. */
  probes: number;
  asExpected: number;
  mismatches: Result[];
  notJudged: NotJudged[];
  /** How many probes were not made (skipped says which and why). */
  notProbed: number;
  skipped: Skipped[];
  /** Each VIP and the member found holding it (null: none found). */
  vips: { address: string; plane: Plane; holder: string | null; how: string }[];
  results: Result[];
}

/** A matrix row's label: the node and the address (a VIP marked as such). */
function rowOf(x: { node: string; address: string; vip?: boolean }): string {
  return `${x.node} ${x.address}${x.vip ? ' (VIP)' : ''}`;
}

/** A matrix column: the port, u for UDP, * for the plane's unlisted port. */
function columnOf(x: { proto: Proto; port: number; unlisted: boolean }): string {
  return `${x.port}${x.proto === 'udp' ? 'u' : ''}${x.unlisted ? '*' : ''}`;
}

const CELL = { reached: 'o', filtered: '.' } as const;
const WRONG = { reached: '!', filtered: '#' } as const;

export function formatReport(r: VerifyReport): string {
  const lines: string[] = [];
  lines.push(
    `verify from ${r.from}: ${r.probes} probe(s), ${r.asExpected} as expected, ${r.mismatches.length} mismatch(es), ${r.notJudged.length} not judged, ${r.notProbed} not probed`,
  );
  if (r.mismatches.length) {
    lines.push('', 'MISMATCHES (node, address, plane, proto/port: expected, actual; the rule that should decide)');
    for (const m of r.mismatches) {
      lines.push(
        `  ${rowOf(m)} ${m.plane} ${m.proto}/${m.port}: expected ${m.expected}, actual ${m.actual} (${m.seen}); ${m.rule}`,
      );
    }
  }
  for (const plane of ['controlPlane', 'workloadPlane'] as const) {
    const mine = [...r.results, ...r.notJudged].filter((x) => x.plane === plane);
    if (!mine.length) continue;
    const sorted = [...mine].sort((a, b) => (a.proto === b.proto ? a.port - b.port : a.proto < b.proto ? -1 : 1));
    const columns = [...new Set(sorted.map(columnOf))];
    const rows = [...new Set(mine.map(rowOf))];
    const head = rows.reduce((w, x) => Math.max(w, x.length), 0);
    const width = columns.reduce((w, c) => Math.max(w, c.length), 1);
    const cells = new Map<string, string>();
    for (const x of mine)
      cells.set(`${rowOf(x)}|${columnOf(x)}`, 'why' in x ? '?' : x.actual === x.expected ? CELL[x.actual] : WRONG[x.actual]);
    lines.push('', `${plane}:`);
    // Port numbers written down the columns, so that a matrix of many ports stays narrow.
    for (let d = 0; d < width; d++) lines.push(`  ${''.padEnd(head)}  ${columns.map((c) => c.padStart(width)[d]!).join(' ')}`);
    for (const row of rows) lines.push(`  ${row.padEnd(head)}  ${columns.map((c) => cells.get(`${row}|${c}`) ?? ' ').join(' ')}`);
  }
  lines.push(
    '',
    "o reached, as expected   . filtered, as expected   ! reached, should be filtered   # filtered, should be reached   ? not judged   u UDP   * the plane's unlisted port",
  );
  for (const v of r.vips)
    lines.push(`VIP ${v.address} (${v.plane}): ${v.holder ? `held by ${v.holder}` : 'holder not found'}; ${v.how}`);
  const whys = new Map<string, string[]>();
  for (const n of r.notJudged) whys.set(n.why, [...(whys.get(n.why) ?? []), `${n.address} ${n.proto}/${n.port}`]);
  for (const [why, what] of whys) lines.push(`not judged (${why}): ${what.join(', ')}`);
  for (const s of r.skipped)
    lines.push(
      `not probed: ${s.address ? `${s.address} ` : ''}${s.proto}${s.port === null ? '' : `/${s.port}`} on ${s.plane} (${s.why})`,
    );
  return lines.join('\n');
}
