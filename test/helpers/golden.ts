// Golden files change only when asked: `npm run golden:update` (GOLDEN_UPDATE=1)
// writes them; otherwise a missing or different golden file fails, on every
// machine (vitest's own file snapshots write a missing file and pass whenever
// it does not detect CI).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

const GOLDEN_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'golden');

export function expectGolden(name: string, actual: string): void {
  const file = path.join(GOLDEN_DIR, name);
  if (process.env.GOLDEN_UPDATE === '1') {
    writeFileSync(file, actual);
    return;
  }
  if (!existsSync(file)) {
    throw new Error(
      `golden file ${path.relative(process.cwd(), file)} is missing: run "npm run golden:update" and review the diff`,
    );
  }
  expect(actual, `${name} differs from the golden file (review, then "npm run golden:update")`).toBe(readFileSync(file, 'utf8'));
}
