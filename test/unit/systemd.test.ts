// The systemd unit verifies offline and keeps a low exposure score; the real
// proof is the package test, which boots it under a real systemd.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/lab/netns.js';
import { tempDir } from '../helpers/fixtures.js';

const hasSystemd = spawnSync('systemd-analyze', ['--version']).status === 0;
if (!hasSystemd && process.env.ARTESCA_FW_REQUIRE_KERNEL_TESTS) throw new Error('systemd-analyze is required in CI');
if (!hasSystemd) console.warn('SKIPPED systemd unit tests: systemd-analyze is not installed');

const tmp = tempDir('afw-unit-');
afterAll(() => tmp.cleanup());

function unitWithLocalPaths(): string {
  // verify checks that ExecStart binaries exist: point them at this checkout.
  const text = readFileSync(path.join(ROOT, 'systemd/artesca-fw.service'), 'utf8').replaceAll(
    '/usr/bin/artesca-fw',
    path.join(ROOT, 'bin/artesca-fw'),
  );
  const file = path.join(tmp.dir, 'artesca-fw.service');
  writeFileSync(file, text);
  return file;
}

describe.skipIf(!hasSystemd)('systemd unit', () => {
  it('passes systemd-analyze verify', () => {
    const r = spawnSync('systemd-analyze', ['verify', unitWithLocalPaths()], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.trim()).toBe('');
  });

  it('starts before the network, restarts on failure, keeps only CAP_NET_ADMIN and CAP_NET_RAW (and CAP_SETGID for tcpdump)', () => {
    const text = readFileSync(path.join(ROOT, 'systemd/artesca-fw.service'), 'utf8');
    expect(text).toMatch(/^Before=network-pre\.target/m);
    expect(text).toMatch(/^Wants=network-pre\.target/m);
    expect(text).toMatch(/^ExecStartPre=-\/usr\/bin\/artesca-fw apply --from-state/m);
    // Installing the package never firewalls a node with an example config.
    expect(text).toMatch(/^ConditionPathExists=\/etc\/artesca-fw\/config\.yaml$/m);
    // A path named in ReadWritePaths= must exist when the namespace is set up, before any command of
    // the unit runs: the lock file is made by tmpfiles at boot, and may be missing ("-") without failing the unit.
    expect(text).toMatch(/^ReadWritePaths=\/var\/lib\/artesca-fw -\/run\/xtables\.lock$/m);
    expect(text).toMatch(/^After=.*systemd-tmpfiles-setup\.service/m);
    expect(readFileSync(path.join(ROOT, 'systemd/artesca-fw.tmpfiles'), 'utf8')).toMatch(
      /^f \/run\/xtables\.lock 0600 root root -$/m,
    );
    expect(text).toMatch(/^Restart=on-failure/m);
    expect(text).toMatch(/^CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_SETGID$/m);
    expect(text).toMatch(/^AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW$/m);
    expect(text).toMatch(/^ProtectSystem=strict/m);
  });

  it('has a systemd-analyze security exposure below 3 (README reports the figure)', () => {
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', unitWithLocalPaths()], { encoding: 'utf8' });
    const m = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    expect(Number(m![1])).toBeLessThan(3);
  });
});
