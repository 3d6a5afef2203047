// Spawns a tool with an argument list (never a shell), feeds it stdin and
// collects its output. The only place processes are started.
import { spawn } from 'node:child_process';
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

/**
 * PIDs of the tools this process ran in the last seconds: the nft monitor
 * names the writer of each change, and changes we made ourselves are not drift.
 */
export const recentChildPids = new Set<number>();
const PID_MEMORY_MS = 10_000;

/**
 * Outside `run` on purpose: a timer created in there could keep `run`'s whole
 * scope alive for its 10 s (the tool's input and output, hundreds of KB with a
 * large inventory).
 */
function rememberPid(pid: number): void {
  recentChildPids.add(pid);
  setTimeout(() => recentChildPids.delete(pid), PID_MEMORY_MS).unref();
}

/**
 * What a start costs matters (the drift checks and every reconcile are made of
 * them): the environment is built once, and a tool's path is looked up in PATH
 * once, not by a string of failed execve() calls in each child. Measured with
 * \`true\`: 1.9 ms of the agent's CPU per start before, 1.3-1.4 ms after.
 */
let toolEnv: NodeJS.ProcessEnv | undefined;
const toolPaths = new Map<string, string>();

function resolveTool(cmd: string): string {
  if (cmd.includes('/')) return cmd;
  const key = `${process.env.PATH ?? ''}\0${cmd}`;
  const known = toolPaths.get(key);
  if (known) return known;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    const file = path.join(dir, cmd);
    try {
      accessSync(file, constants.X_OK);
      toolPaths.set(key, file);
      return file;
    } catch {
      // not here
    }
  }
  return cmd; // not found: let spawn say so (ENOENT)
}

/** Processes started so far (the benchmarks count them: each costs milliseconds of CPU). */
export const execStats = { starts: 0 };

export function run(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  execStats.starts++;
  return new Promise((resolve, reject) => {
    toolEnv ??= { ...process.env, LC_ALL: 'C' };
    const file = resolveTool(cmd);
    const child = spawn(file, args, {
      shell: false,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: toolEnv,
      argv0: cmd,
    });
    if (child.pid !== undefined) rememberPid(child.pid);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === 'ENOENT') {
        toolPaths.clear(); // a tool that moved or went away: look again next time
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

/** The first lines of a tool's complaint, for an error message. */
export function quoteTool(res: ExecResult): string {
  const text = (res.stderr.trim() || res.stdout.trim() || `exit code ${res.code}`).split('\n').slice(0, 4).join(' | ');
  return text.length > 400 ? `${text.slice(0, 400)}...` : text;
}
