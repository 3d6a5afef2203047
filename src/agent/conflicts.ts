// Other firewall managers on the same host fight artesca-fw: firewalld's
// reload removes every iptables chain (ours too), the Debian nftables service
// loads /etc/nftables.conf, which starts with `flush ruleset`, and ufw rewrites
// the filter table. artesca-fw puts its rules back within seconds, but an
// operator must know that two firewalls are fighting (MetalK8s lists firewalld
// as a conflicting service). `check` and `/status` say so.
//
// What is looked at: systemd's view of the three units when systemd runs,
// the processes' names (firewalld is a daemon) and ufw's own switch. No shell,
// no D-Bus client: `systemctl is-active` with an argument list, /proc and a file.

import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { ToolRunner } from '../dataplane/exec.js';
import type { Metrics } from '../http/metrics.js';

export type Manager = 'firewalld' | 'ufw' | 'nftables';
export const MANAGERS: readonly Manager[] = ['firewalld', 'ufw', 'nftables'];

export interface ConflictWarning {
  manager: Manager;
  /** What shows it is active. */
  evidence: string;
  /** What it does to artesca-fw, and what to do. */
  message: string;
}

export interface ConflictInputs {
  /** `systemctl is-active` of each unit, when systemd runs (undefined otherwise). */
  units?: Partial<Record<Manager, string>>;
  /** Names of the running processes (/proc/PID/comm). */
  processes: string[];
  /** The text of /etc/ufw/ufw.conf, when it exists. */
  ufwConf?: string;
}

const EFFECT: Record<Manager, string> = {
  firewalld:
    'firewalld is active: its reload removes every iptables chain, artesca-fw rules included (they are put back within seconds, but the two fight); disable it: systemctl disable --now firewalld',
  ufw: 'ufw is enabled: it rewrites the filter table and its default policy may drop what artesca-fw allows; disable it: ufw disable',
  nftables:
    'the nftables service is active: /etc/nftables.conf usually starts with "flush ruleset", which removes artesca-fw rules at each (re)start; disable it, or remove the flush from the file',
};

/** Pure: which managers the inputs show active. */
export function detectConflicts(inputs: ConflictInputs): ConflictWarning[] {
  const found = new Map<Manager, string>();
  // ufw.service is active even with ufw disabled (it only runs ufw-init): its own switch decides.
  for (const m of ['firewalld', 'nftables'] as const) {
    const state = inputs.units?.[m];
    if (state === 'active' || state === 'reloading' || state === 'activating') found.set(m, `${m}.service is ${state}`);
  }
  if (!found.has('firewalld') && inputs.processes.includes('firewalld')) found.set('firewalld', 'a firewalld process is running');
  if (inputs.ufwConf !== undefined && /^\s*ENABLED\s*=\s*"?yes"?\s*$/m.test(inputs.ufwConf)) {
    found.set('ufw', 'ENABLED=yes in /etc/ufw/ufw.conf');
  }
  return MANAGERS.filter((m) => found.has(m)).map((m) => ({ manager: m, evidence: found.get(m)!, message: EFFECT[m] }));
}

async function processNames(): Promise<string[]> {
  const names: string[] = [];
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    if (comm) names.push(comm.trim());
  }
  return names;
}

async function unitStates(runner: ToolRunner): Promise<ConflictInputs['units']> {
  // systemd's own marker that it is the running init.
  if (!existsSync('/run/systemd/system')) return undefined;
  try {
    const res = await runner.run('systemctl', ['is-active', ...MANAGERS.map((m) => `${m}.service`)], { timeoutMs: 5000 });
    const states = res.stdout.split('\n');
    return Object.fromEntries(MANAGERS.map((m, i) => [m, states[i]?.trim() ?? 'unknown']));
  } catch {
    return undefined; // no systemctl: the process list still shows firewalld
  }
}

/** Reads the inputs on this host and says which managers are active. */
export async function findConflicts(runner: ToolRunner): Promise<ConflictWarning[]> {
  const [units, processes, ufwConf] = await Promise.all([
    unitStates(runner),
    processNames(),
    readFile('/etc/ufw/ufw.conf', 'utf8').catch(() => undefined),
  ]);
  return detectConflicts({ ...(units ? { units } : {}), processes, ...(ufwConf !== undefined ? { ufwConf } : {}) });
}

/** The daemon's periodic look: reports a change in the log and the metrics, and hands the list to `onChange`. */
export class ConflictWatcher {
  private timer: NodeJS.Timeout | null = null;
  private last: Manager[] = [];

  constructor(
    private readonly runner: ToolRunner,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly onChange: (found: ConflictWarning[]) => void,
  ) {}

  async check(): Promise<void> {
    const found = await findConflicts(this.runner).catch(() => [] as ConflictWarning[]);
    const now = found.map((c) => c.manager);
    for (const m of MANAGERS) this.metrics.conflicts.set({ manager: m }, now.includes(m) ? 1 : 0);
    this.onChange(found);
    if (now.join() === this.last.join()) return;
    this.last = now;
    if (found.length) {
      this.log.warn(
        { event: 'conflict', conflicts: found },
        `another firewall manager is active: ${found.map((c) => c.message).join('; ')}`,
      );
    } else this.log.info({ event: 'conflict', conflicts: [] }, 'no other firewall manager is active any more');
  }

  start(everyMs: number): void {
    this.timer = setInterval(() => void this.check(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
