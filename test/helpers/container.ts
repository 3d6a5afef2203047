// A Debian machine with a real systemd as PID 1, for the package tests: a
// minimal root file system made by debootstrap (cached between runs), booted
// with `systemd-nspawn -b` inside a network namespace the test made. Commands
// run inside with nsenter (the container is not registered with machined).
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { until } from '../../scripts/lab/daemon.js';
import { ToolRunner } from '../../src/dataplane/exec.js';

const runner = new ToolRunner();
const run = runner.run.bind(runner);

/** What the node image holds: systemd and the package's dependencies, and no Node.js. */
export const ROOTFS_PACKAGES = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'iptables',
  'ipset',
  'iproute2',
  'nftables',
  'conntrack',
  'tcpdump',
  'curl',
  'procps',
  'man-db',
];
const CACHE = process.env.ARTESCA_FW_ROOTFS_CACHE ?? '/var/cache/artesca-fw-test';

/** This machine's Debian archive and release, as its apt sources name them (nothing else is reachable). */
function debianArchive(): { mirror: string; suite: string } {
  const suite = /^VERSION_CODENAME=(\S+)$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'bookworm';
  const texts: string[] = [];
  for (const f of ['/etc/apt/sources.list', ...listDir('/etc/apt/sources.list.d').map((n) => `/etc/apt/sources.list.d/${n}`)]) {
    if (existsSync(f)) texts.push(readFileSync(f, 'utf8'));
  }
  const all = texts.join('\n');
  const deb822 = /^URIs:\s*(\S+)/m.exec(all)?.[1];
  const oneLine = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+/m.exec(all)?.[1];
  const mirror = [deb822, oneLine].find((u) => u && !u.includes('security'));
  if (!mirror) throw new Error('no Debian archive in /etc/apt/sources*: cannot debootstrap');
  return { mirror, suite };
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The cached root file system (made once: about a minute and a half). */
export async function cachedRootfs(): Promise<string> {
  const { mirror, suite } = debianArchive();
  const key = createHash('sha256')
    .update(`${suite} ${ROOTFS_PACKAGES.join(',')}`)
    .digest('hex')
    .slice(0, 12);
  const dir = path.join(CACHE, `${suite}-minbase-${key}`);
  if (existsSync(path.join(dir, 'usr/bin/systemctl'))) return dir;
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  const r = await run('debootstrap', ['--variant=minbase', `--include=${ROOTFS_PACKAGES.join(',')}`, suite, tmp, mirror], {
    timeoutMs: 15 * 60_000,
  });
  if (r.code !== 0) throw new Error(`debootstrap failed: ${r.stderr.slice(-2000)}${r.stdout.slice(-2000)}`);
  // Leave the image as a fresh install would be: no machine id yet (made at first boot).
  rmSync(path.join(tmp, 'etc/machine-id'), { force: true });
  renameSync(tmp, dir);
  return dir;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class Container {
  private nspawn: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private leader = 0;
  readonly console: string[] = [];

  constructor(
    readonly root: string,
    readonly name: string,
  ) {}

  /** Boots the container in network namespace `netns` and waits for systemd to finish starting up. */
  async boot(netns: string): Promise<void> {
    const child = spawn(
      'systemd-nspawn',
      [
        '--register=no',
        '--keep-unit',
        '-b',
        '-q',
        `--directory=${this.root}`,
        `--machine=${this.name}`,
        `--network-namespace-path=/run/netns/${netns}`,
        // nspawn keeps CAP_NET_ADMIN only for networks it makes itself: the agent needs it in ours.
        '--capability=CAP_NET_ADMIN,CAP_NET_RAW',
        '--console=passive',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.nspawn = child;
    child.stdout!.on('data', (d: Buffer) => this.console.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => this.console.push(d.toString()));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    // The container's PID 1 is the process of our namespace whose innermost PID is 1.
    await until(
      async () => {
        if (child.exitCode !== null) throw new Error(`systemd-nspawn exited: ${this.console.join('')}`);
        const pids = (await run('ip', ['netns', 'pids', netns])).stdout.split('\n').filter(Boolean);
        for (const pid of pids) {
          const nspid = /^NSpid:\s+(.*)$/m
            .exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
            ?.trim()
            .split(/\s+/);
          if (nspid && nspid.length > 1 && nspid.at(-1) === '1') {
            this.leader = Number(pid);
            return true;
          }
        }
        return false;
      },
      30_000,
      100,
    );
    await until(
      async () => /^(running|degraded)$/m.test((await this.exec('systemctl', ['is-system-running'])).stdout),
      90_000,
      200,
    );
  }

  /** Runs a command inside the container (its mount, PID, network... namespaces), with a clean environment. */
  exec(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
    if (!this.leader) throw new Error('the container is not running');
    return run(
      'nsenter',
      [
        `--target=${this.leader}`,
        '--mount',
        '--uts',
        '--ipc',
        '--net',
        '--pid',
        '--root',
        '--wd=/',
        'env',
        '-i',
        'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
        'LANG=C.UTF-8',
        cmd,
        ...args,
      ],
      { timeoutMs: opts.timeoutMs ?? 120_000, ...(opts.input !== undefined ? { input: opts.input } : {}) },
    );
  }

  async must(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    const r = await this.exec(cmd, args, opts);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} in the container failed (${r.code}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** A clean shutdown (nspawn turns SIGTERM into a poweroff); killed if it takes too long. */
  async stop(): Promise<void> {
    const child = this.nspawn;
    if (!child || child.exitCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    await this.exited;
    clearTimeout(timer);
    this.leader = 0;
  }
}
