// The packages under test: built by `npm run package` (scripts/package/build.sh),
// and built again here when missing or older than the sources they come from.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../scripts/lab/netns.js';

export const VERSION = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;
export const OUT = path.join(ROOT, 'out');
export const DEB = path.join(OUT, `artesca-fw_${VERSION}_amd64.deb`);
export const RPM = path.join(OUT, `artesca-fw-${VERSION}-1.x86_64.rpm`);

function inputsHash(): string {
  const r = spawnSync('bash', [path.join(ROOT, 'scripts/package/inputs-hash.sh')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`inputs-hash.sh failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** Builds the .deb and .rpm unless the ones in out/ were built from these very sources. */
export function ensurePackages(): void {
  const stamp = path.join(OUT, 'inputs.sha256');
  if (existsSync(DEB) && existsSync(RPM) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === inputsHash()) return;
  const r = spawnSync('bash', [path.join(ROOT, 'scripts/package/build.sh')], { encoding: 'utf8', timeout: 15 * 60_000 });
  if (r.status !== 0) throw new Error(`npm run package failed: ${r.stderr}${r.stdout}`);
}
