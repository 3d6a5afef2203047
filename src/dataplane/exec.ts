// Spawns a tool with an argument list (never a shell), feeds it stdin and
// collects its output. The only place processes are started. Its state (the
// PIDs of recent children, the count of starts, the lock it shares) belongs to
// one ToolRunner that the agent makes and hands to every user.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { AfwError } from '../errors.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: string;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const PID_MEMORY_MS = 10_000;

export class ToolRunner {
  /** Processes started so far (each costs milliseconds of CPU; `artesca_fw_tool_runs_total`). */
  starts = 0;
  /**
   * PIDs of the tools this runner started in the last seconds: the nft monitor
   * names the writer of each change, and changes we made ourselves are not drift.
   */
  private readonly recent = new Set<number>();
  /**
   * The write lock's socket, while it is held: every tool started then gets a
   * copy, so a tool that outlives a killed writer keeps the lock until it ends
   * (the next writer cannot start while a batch of the dead one is still running).
   */
  private lockFd: number | null = null;
  /**
   * What a start costs matters (the drift checks and every reconcile are made
   * of them): the environment is built once, and a tool's path is looked up in
   * PATH once, not by a string of failed execve() calls in each child.
   */
  private env: NodeJS.ProcessEnv | undefined;
  private readonly paths = new Map<string, string>();

  /** Every tool's environment: the agent's, in the C locale (their output is parsed). */
  private toolEnv(): NodeJS.ProcessEnv {
    this.env ??= { ...process.env, LC_ALL: 'C' };
    return this.env;
  }

  wroteRecently(pid: number): boolean {
    return this.recent.has(pid);
  }

  shareLock(fd: number | null): void {
    this.lockFd = fd;
  }

  private resolve(cmd: string): string {
    if (cmd.includes('/')) return cmd;
    const key = `${process.env.PATH ?? ''}\0${cmd}`;
    const known = this.paths.get(key);
    if (known) return known;
    for (const dir of (process.env.PATH ?? '').split(':')) {
      if (!dir) continue;
      const file = path.join(dir, cmd);
      try {
        accessSync(file, constants.X_OK);
        this.paths.set(key, file);
        return file;
      } catch {
        // not here
      }
    }
    return cmd; // not found: let spawn say so (ENOENT)
  }

  private remember(pid: number): void {
    this.recent.add(pid);
    // The timer holds only the set and the number: a closure over run()'s
    // scope would keep a tool's whole input and output alive for 10 s.
    setTimeout(forget, PID_MEMORY_MS, this.recent, pid).unref();
  }

  run(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.starts++;
    return new Promise((resolve, reject) => {
      const file = this.resolve(cmd);
      const stdin = opts.input === undefined ? 'ignore' : 'pipe';
      const child = spawn(file, args, {
        shell: false,
        stdio: this.lockFd === null ? [stdin, 'pipe', 'pipe'] : [stdin, 'pipe', 'pipe', this.lockFd],
        env: this.toolEnv(),
        argv0: cmd,
      });
      if (child.pid !== undefined) this.remember(child.pid);
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      child.stdout!.on('data', (b: Buffer) => out.push(b));
      child.stderr!.on('data', (b: Buffer) => err.push(b));
      child.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (e.code === 'ENOENT') {
          this.paths.clear(); // a tool that moved or went away: look again next time
          reject(new AfwError('AFW_TOOL_MISSING', `${cmd} is not installed (apt-get install iptables ipset)`, { cause: e }));
        } else reject(new AfwError('AFW_INTERNAL', `cannot start ${cmd}: ${e.message}`, { cause: e }));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const stderr = Buffer.concat(err).toString('utf8');
        resolve({
          code: code ?? (signal ? 128 : 1),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: signal ? `${stderr}killed by ${signal} (timeout)` : stderr,
        });
      });
      // A tool that exits before reading all of stdin makes write() fail with EPIPE; its exit code tells the story.
      if (child.stdin) {
        child.stdin.on('error', () => {});
        child.stdin.end(opts.input);
      }
    });
  }

  /**
   * Starts a tool that stays running, fed commands on stdin (ipset's
   * interactive mode): counted once, never given the write lock (it would
   * hold it for as long as it lives).
   */
  startSession(cmd: string, args: string[]): ChildProcessWithoutNullStreams {
    this.starts++;
    return spawn(this.resolve(cmd), args, { shell: false, stdio: ['pipe', 'pipe', 'pipe'], env: this.toolEnv(), argv0: cmd });
  }
}

function forget(set: Set<number>, pid: number): void {
  set.delete(pid);
}

/** The first lines of a tool's complaint, for an error message. */
export function quoteTool(res: ExecResult): string {
  const text = (res.stderr.trim() || res.stdout.trim() || `exit code ${res.code}`).split('\n').slice(0, 4).join(' | ');
  return text.length > 400 ? `${text.slice(0, 400)}...` : text;
}
