// What every bench script does with its figures: replace its own section of
// BENCHMARKS.md (between its markers, or before "Across runs" the first time),
// and exit with the code of its main.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../lab/netns.js';

export function writeSection(start: string, end: string, section: string): void {
  const file = path.join(ROOT, 'BENCHMARKS.md');
  const text = readFileSync(file, 'utf8');
  let next: string;
  if (text.includes(start)) {
    next = text.slice(0, text.indexOf(start)) + section + text.slice(text.indexOf(end) + end.length);
  } else if (text.includes('## Across runs')) {
    next = text.replace('## Across runs', `${section}\n\n## Across runs`);
  } else {
    throw new Error(`BENCHMARKS.md has neither ${start} nor "## Across runs": nowhere to write the section`);
  }
  writeFileSync(file, next);
  console.log(section);
}

/** A section that is one table: its heading, what was measured and how, the column names, the rows. */
export function writeTableSection(
  marks: { start: string; end: string },
  heading: string,
  intro: string,
  columns: string[],
  rows: string[],
): void {
  const section = [
    marks.start,
    heading,
    '',
    intro,
    '',
    `| ${columns.join(' | ')} |`,
    `|${columns.map(() => '---').join('|')}|`,
    ...rows,
    marks.end,
  ].join('\n');
  writeSection(marks.start, marks.end, section);
}

export function runMain(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
