// Which other firewall managers the detection inputs show active.
import { describe, expect, it } from 'vitest';
import { detectConflicts } from '../../src/agent/conflicts.js';

describe('detectConflicts', () => {
  it('finds nothing on a host without other managers', () => {
    expect(detectConflicts({ processes: ['systemd', 'kubelet', 'sshd'] })).toEqual([]);
    expect(
      detectConflicts({
        units: { firewalld: 'inactive', ufw: 'active', nftables: 'inactive' },
        processes: [],
        ufwConf: '# /etc/ufw/ufw.conf\nENABLED=no\nLOGLEVEL=low\n',
      }),
    ).toEqual([]);
  });

  it('firewalld: from systemd, or from its process when systemd cannot be asked', () => {
    expect(detectConflicts({ units: { firewalld: 'active' }, processes: [] })).toMatchObject([
      {
        manager: 'firewalld',
        evidence: 'firewalld.service is active',
        message: expect.stringMatching(/reload removes every iptables chain/),
      },
    ]);
    expect(detectConflicts({ processes: ['firewalld'] })).toMatchObject([
      { manager: 'firewalld', evidence: 'a firewalld process is running' },
    ]);
    expect(detectConflicts({ units: { firewalld: 'reloading' }, processes: [] })[0]?.manager).toBe('firewalld');
  });

  it('ufw: by its own switch (its unit is active even when ufw is disabled)', () => {
    expect(detectConflicts({ processes: [], ufwConf: 'ENABLED=yes\n' })).toMatchObject([{ manager: 'ufw' }]);
    expect(detectConflicts({ processes: [], ufwConf: '  ENABLED = "yes"  \n' })).toMatchObject([{ manager: 'ufw' }]);
    expect(detectConflicts({ processes: [], ufwConf: '#ENABLED=yes\nENABLED=no\n' })).toEqual([]);
  });

  it('the nftables service, and several at once in a stable order', () => {
    const all = detectConflicts({
      units: { firewalld: 'active', nftables: 'active' },
      processes: ['firewalld'],
      ufwConf: 'ENABLED=yes',
    });
    expect(all.map((c) => c.manager)).toEqual(['firewalld', 'ufw', 'nftables']);
    expect(all[2]!.message).toMatch(/flush ruleset/);
  });
});
