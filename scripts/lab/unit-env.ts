// The daemon's runtime settings as its unit sets them (systemd/artesca-fw.service,
// Environment= lines other than the config's path): the lab's daemons run with
// the same, so that tests and benchmarks see the daemon as it ships.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './netns.js';

export function unitRuntimeEnv(): Record<string, string> {
  const unit = readFileSync(path.join(ROOT, 'systemd/artesca-fw.service'), 'utf8');
  const env: Record<string, string> = {};
  for (const m of unit.matchAll(/^Environment=([A-Z_][A-Z0-9_]*)=(.*)$/gm)) if (m[1] !== 'ARTESCA_FW_CONFIG') env[m[1]!] = m[2]!;
  return env;
}
