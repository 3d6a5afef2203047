// Network namespaces for kernel tests. Every namespace a Lab makes is removed
// by cleanup(), and by an exit hook if the test process dies first. Nothing is
// ever run in the machine's own namespace: every command goes through
// `ip netns exec <ours>`, and the two bridges live in a namespace of their own.
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ToolRunner } from '../../src/dataplane/exec.js';

/** The project root: the nearest folder above this file with a package.json (works from scripts/ and dist/scripts/). */
function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the project root');
    dir = up;
  }
  return dir;
}

export const ROOT = projectRoot();
export const BIN = path.join(ROOT, 'bin/artesca-fw');
const PEER = path.join(ROOT, 'scripts/lab/ns-peer.mjs');

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** The commands the tests need and the Debian packages that bring them (scripts/test-packages.txt). */
export function testPackages(): { command: string; packages: string }[] {
  return readFileSync(path.join(ROOT, 'scripts/test-packages.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => {
      const [command = '', packages = ''] = l.trim().split(/\s+/);
      return { command, packages: packages.replaceAll(',', ' ') };
    });
}

function installed(command: string): boolean {
  return ['/usr/sbin', '/usr/bin', '/sbin', '/bin', ...(process.env.PATH ?? '').split(':')].some(
    (dir) => dir && existsSync(path.join(dir, command)),
  );
}

/** Why kernel tests cannot run here, or undefined when they can. */
export function kernelTestsBlocked(): string | undefined {
  if (!isRoot()) return 'run as root: the kernel tests need network namespaces (npm run test:unit runs the unit tests alone)';
  for (const { command, packages } of testPackages()) {
    if (!installed(command))
      return `${command} is not installed: apt-get install ${packages} (npm test installs what is missing)`;
  }
  return undefined;
}

/** Kernel tests never skip: without root or a tool they fail at once, saying which. */
export function requireKernelTests(): void {
  const reason = kernelTestsBlocked();
  if (reason) throw new Error(reason);
}

/** The lab's own runner (the harness is one process; the agent under test makes its own). */
const labRunner = new ToolRunner();
const run = labRunner.run.bind(labRunner);

const alive = new Set<string>();
let hooked = false;
let counter = 0;

function hookExit() {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const ns of alive) spawnSync('ip', ['netns', 'del', ns]);
  });
}

export interface Probe {
  state: 'open' | 'refused' | 'timeout' | 'error' | 'echoed' | 'closed';
  conn?: number;
  code?: string;
}

/** A peer process inside a namespace (test/helpers/ns-peer.mjs). */
export class Peer {
  private next = 1;
  private readonly waiting = new Map<number, (v: { ok: boolean; result?: unknown; error?: string }) => void>();
  private readonly ready: Promise<void>;

  constructor(readonly proc: ChildProcessWithoutNullStreams) {
    let resolveReady: () => void = () => {};
    this.ready = new Promise((r) => {
      resolveReady = r;
    });
    readline.createInterface({ input: proc.stdout }).on('line', (line) => {
      const m = JSON.parse(line) as { id: number; ok: boolean; result?: unknown; error?: string };
      if (m.id === 0) return resolveReady();
      this.waiting.get(m.id)?.(m);
      this.waiting.delete(m.id);
    });
  }

  async call(msg: Record<string, unknown>): Promise<unknown> {
    await this.ready;
    const id = this.next++;
    const res = await new Promise<{ ok: boolean; result?: unknown; error?: string }>((resolve) => {
      this.waiting.set(id, resolve);
      this.proc.stdin.write(`${JSON.stringify({ ...msg, id })}\n`);
    });
    if (!res.ok) throw new Error(`peer: ${res.error}`);
    return res.result;
  }

  listen(proto: 'tcp' | 'udp', ...ports: number[]): Promise<unknown[]> {
    return Promise.all(ports.map((port) => this.call({ op: 'listen', proto, port })));
  }

  probe(host: string, port: number, opts: { proto?: 'tcp' | 'udp'; timeoutMs?: number; keep?: boolean } = {}): Promise<Probe> {
    return this.call({
      op: 'probe',
      proto: opts.proto ?? 'tcp',
      host,
      port,
      timeoutMs: opts.timeoutMs ?? 400,
      keep: opts.keep ?? false,
    }) as Promise<Probe>;
  }

  use(conn: number): Promise<Probe> {
    return this.call({ op: 'use', conn }) as Promise<Probe>;
  }

  banner(host: string, port: number, timeoutMs = 1000): Promise<{ state: string; line?: string }> {
    return this.call({ op: 'banner', host, port, timeoutMs }) as Promise<{ state: string; line?: string }>;
  }

  http(url: string): Promise<{ status: number; body: string; contentType?: string }> {
    return this.call({ op: 'http', url }) as Promise<{ status: number; body: string; contentType?: string }>;
  }

  /** Forwards TCP `port` in the peer's namespace to a unix socket of the test process. */
  forward(port: number, socketPath: string): Promise<unknown> {
    return this.call({ op: 'forward', port, socketPath });
  }

  unforward(port: number): Promise<unknown> {
    return this.call({ op: 'unforward', port });
  }

  stop(): void {
    this.proc.stdin.end();
    this.proc.kill('SIGTERM');
  }
}

export class Lab {
  readonly id: string;
  private readonly namespaces: string[] = [];
  private readonly peers: Peer[] = [];

  constructor(tag = 't') {
    this.id = `afw${tag}${process.pid % 100000}${counter++}`;
    hookExit();
  }

  /** Creates namespace `<lab>-<name>` with loopback up; returns its full name. */
  async ns(name: string): Promise<string> {
    const full = `${this.id}-${name}`;
    await must('ip', ['netns', 'add', full]);
    alive.add(full);
    this.namespaces.push(full);
    await this.exec(full, 'ip', ['link', 'set', 'lo', 'up']);
    return full;
  }

  /** Runs a command inside a namespace (argument list, no shell). */
  exec(ns: string, cmd: string, args: string[], opts: { input?: string; env?: Record<string, string> } = {}) {
    if (!this.namespaces.includes(ns)) throw new Error(`refusing to run in a namespace this lab did not make: ${ns}`);
    if (opts.env) {
      const envArgs = Object.entries(opts.env).map(([k, v]) => `${k}=${v}`);
      return run('ip', ['netns', 'exec', ns, 'env', ...envArgs, cmd, ...args], { input: opts.input ?? '', timeoutMs: 60_000 });
    }
    return run('ip', ['netns', 'exec', ns, cmd, ...args], { input: opts.input ?? '', timeoutMs: 60_000 });
  }

  async must(ns: string, cmd: string, args: string[], opts: { input?: string } = {}): Promise<string> {
    const r = await this.exec(ns, cmd, args, opts);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${ns} failed (${r.code}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** A veth pair between two of our namespaces. */
  async veth(nsA: string, ifA: string, nsB: string, ifB: string): Promise<void> {
    const tmpA = `v${counter++}a${process.pid % 10000}`;
    const tmpB = `v${counter++}b${process.pid % 10000}`;
    // Created inside nsA (never in the machine's namespace), then one end moved to nsB.
    await this.must(nsA, 'ip', ['link', 'add', tmpA, 'type', 'veth', 'peer', 'name', tmpB]);
    await this.must(nsA, 'ip', ['link', 'set', tmpB, 'netns', nsB]);
    await this.must(nsA, 'ip', ['link', 'set', tmpA, 'name', ifA]);
    await this.must(nsB, 'ip', ['link', 'set', tmpB, 'name', ifB]);
    await this.must(nsA, 'ip', ['link', 'set', ifA, 'up']);
    await this.must(nsB, 'ip', ['link', 'set', ifB, 'up']);
  }

  async addr(ns: string, ifname: string, ...cidrs: string[]): Promise<void> {
    for (const c of cidrs) {
      await this.must(
        ns,
        'ip',
        c.includes(':') ? ['-6', 'addr', 'add', c, 'dev', ifname, 'nodad'] : ['addr', 'add', c, 'dev', ifname],
      );
    }
  }

  peer(ns: string): Peer {
    if (!this.namespaces.includes(ns)) throw new Error(`not our namespace: ${ns}`);
    const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, PEER], { stdio: ['pipe', 'pipe', 'pipe'] });
    const p = new Peer(proc);
    this.peers.push(p);
    return p;
  }

  /** A long-running program inside a namespace (a cluster service); cleanup() kills it with the namespace. */
  spawn(ns: string, cmd: string, args: string[]): ChildProcessWithoutNullStreams {
    if (!this.namespaces.includes(ns)) throw new Error(`not our namespace: ${ns}`);
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdout.resume();
    child.stderr.resume();
    return child;
  }

  /** The artesca-fw CLI inside a namespace. */
  cli(ns: string, args: string[], env?: Record<string, string>) {
    return this.exec(ns, BIN, args, env ? { env } : {});
  }

  /** Removes one of our namespaces now (its veth pairs go with it), killing what still runs in it. */
  async remove(ns: string): Promise<void> {
    if (!this.namespaces.includes(ns)) throw new Error(`not our namespace: ${ns}`);
    killIn(ns);
    await run('ip', ['netns', 'del', ns]);
    alive.delete(ns);
    this.namespaces.splice(this.namespaces.indexOf(ns), 1);
  }

  async cleanup(): Promise<void> {
    for (const p of this.peers) p.stop();
    for (const ns of this.namespaces.reverse()) {
      killIn(ns);
      await run('ip', ['netns', 'del', ns]);
      alive.delete(ns);
    }
    this.namespaces.length = 0;
  }
}

/** Kills every process still in a namespace (a test that failed half-way). */
function killIn(ns: string): void {
  spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
    .stdout?.split('\n')
    .filter(Boolean)
    .forEach((pid) => {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {}
    });
}

async function must(cmd: string, args: string[]): Promise<void> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
}

export interface NodeSpec {
  name: string;
  /** Addresses with prefix, e.g. 10.100.0.1/24; empty: not on that plane. */
  cp: string[];
  wp: string[];
}

/**
 * A cluster: a switch namespace holding two bridges (control plane, workload
 * plane) and one namespace per node with interfaces cp0 and wp0 on them.
 */
export async function buildCluster(lab: Lab, nodes: NodeSpec[]): Promise<Record<string, string>> {
  const sw = await lab.ns('sw');
  await lab.must(sw, 'ip', ['link', 'add', 'br-cp', 'type', 'bridge']);
  await lab.must(sw, 'ip', ['link', 'add', 'br-wp', 'type', 'bridge']);
  await lab.must(sw, 'ip', ['link', 'set', 'br-cp', 'up']);
  await lab.must(sw, 'ip', ['link', 'set', 'br-wp', 'up']);
  const out: Record<string, string> = { sw };
  let i = 0;
  for (const n of nodes) {
    const ns = await lab.ns(n.name);
    out[n.name] = ns;
    i++;
    for (const [plane, addrs, br] of [
      ['cp', n.cp, 'br-cp'],
      ['wp', n.wp, 'br-wp'],
    ] as const) {
      if (addrs.length === 0) continue;
      const swSide = `${plane}${i}`;
      await lab.veth(ns, `${plane}0`, sw, swSide);
      await lab.must(sw, 'ip', ['link', 'set', swSide, 'master', br]);
      await lab.addr(ns, `${plane}0`, ...addrs);
    }
  }
  return out;
}
