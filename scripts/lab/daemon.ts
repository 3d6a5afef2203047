// Runs the real `artesca-fw run` inside a namespace and follows its JSON log.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import readline from 'node:readline';
import { BIN } from './netns.js';
import { unitRuntimeEnv } from './unit-env.js';

export interface LogLine {
  level: number;
  time: string;
  event?: string;
  reason?: string;
  result?: string;
  msg: string;
  [k: string]: unknown;
}

export class DaemonProc {
  readonly logs: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly proc: ChildProcessWithoutNullStreams;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];

  /** `command`: what runs the daemon (default `artesca-fw run`; a test gives a variant built on runDaemon). */
  constructor(ns: string, args: string[], command: string[] = [BIN, 'run']) {
    // With the runtime settings of the unit, as the daemon runs on a node.
    this.proc = spawn('ip', ['netns', 'exec', ns, ...command, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...unitRuntimeEnv() },
    });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    readline.createInterface({ input: this.proc.stdout }).on('line', (line) => {
      let l: LogLine;
      try {
        l = JSON.parse(line) as LogLine;
      } catch {
        return;
      }
      this.logs.push(l);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(l)) return true;
        w.resolve(l);
        return false;
      });
    });
    readline.createInterface({ input: this.proc.stderr }).on('line', (line) => this.stderr.push(line));
  }

  /** The first log line (from `since` on) matching `pred`, waiting up to `timeoutMs`. */
  waitFor(pred: (l: LogLine) => boolean, timeoutMs = 10_000, since = 0): Promise<LogLine> {
    const seen = this.logs.slice(since).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `no matching log line in ${timeoutMs} ms; last: ${JSON.stringify(this.logs.slice(-3))} stderr: ${this.stderr.join(' | ')}`,
            ),
          ),
        timeoutMs,
      );
      this.waiters.push({
        pred,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.proc.kill(signal);
    return this.exited;
  }
}

/** Polls `fn` until it returns true, at most `timeoutMs`; returns the time it took. */
export async function until(fn: () => Promise<boolean>, timeoutMs: number, stepMs = 25): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await fn()) return performance.now() - start;
    if (performance.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
