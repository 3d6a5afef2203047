// The set check asks the kernel for every set's header every 1.5 s. As one
// `ipset -t list` each time, that is a fork of the agent every 1.5 s, which
// was most of the agent's idle CPU (BENCHMARKS.md, section 17). ipset's
// interactive mode (`ipset -`) takes commands on stdin and stays: one process
// answers every check. Its output to a pipe is block-buffered (an answer would
// wait in ipset's buffer), so it runs under `stdbuf -oL` (coreutils) and
// writes each line as it is made. Each request is `list -t` then `version`, whose line
// ends the answer (the prompt `ipset> ` comes before each answer and is
// dropped). A session that does not answer in time, complains on stderr or
// exits is ended; the caller runs the one-shot command instead, and the next
// request starts a new session.
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import type { ToolRunner } from './exec.js';

const PROMPT = /^(?:ipset> )+/gm;
/** The answer to `version`, which ends an answer (its line is not part of it). */
const END = /(?:^|\n)(?:ipset> )*ipset v\d[^\n]*\n/;
const ANSWER_TIMEOUT_MS = 5000;

export class IpsetSession {
  private child: ChildProcessWithoutNullStreams | null = null;
  private buffer = '';
  private complaint = '';
  private waiting: { resolve: (text: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | null = null;
  /** One request at a time: the next waits for the answer to this one. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly runner: ToolRunner) {}

  /** What `ipset -t list` prints: the header of every set. */
  listHeaders(): Promise<string> {
    const next = this.queue.then(() => this.ask('list -t\nversion\n'));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private ask(commands: string): Promise<string> {
    const child = this.child ?? this.start();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this.fail(new Error(`ipset session: no answer in ${ANSWER_TIMEOUT_MS} ms`)),
        ANSWER_TIMEOUT_MS,
      );
      this.waiting = { resolve, reject, timer };
      this.complaint = '';
      child.stdin.write(commands);
    });
  }

  private start(): ChildProcessWithoutNullStreams {
    const child = this.runner.startSession('stdbuf', ['-oL', 'ipset', '-']);
    this.child = child;
    this.buffer = '';
    child.stdin.on('error', () => {}); // a session that died: 'exit' says so
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      if (this.child !== child) return;
      this.buffer += text;
      this.answer();
    });
    child.stderr.on('data', (b: Buffer) => {
      if (this.child === child) this.complaint += b.toString('utf8');
    });
    // Only the session in use fails a request: one ended by stop() is gone already.
    child.on('error', (e) => {
      if (this.child === child) this.fail(e);
    });
    child.on('exit', (code, signal) => {
      if (this.child === child) this.fail(new Error(`ipset session ended (${signal ?? `exit code ${code}`})`));
    });
    return child;
  }

  private answer(): void {
    const end = END.exec(this.buffer);
    if (!end || !this.waiting) return;
    const text = this.buffer.slice(0, end.index + (end[0].startsWith('\n') ? 1 : 0));
    this.buffer = this.buffer.slice(end.index + end[0].length);
    const waiting = this.waiting;
    this.waiting = null;
    clearTimeout(waiting.timer);
    // A complaint means the list is not whole: the caller asks the one-shot command.
    if (this.complaint) {
      const e = new Error(`ipset session: ${this.complaint.trim().slice(0, 200)}`);
      this.stop();
      waiting.reject(e);
      return;
    }
    waiting.resolve(text.replace(PROMPT, ''));
  }

  private fail(e: Error): void {
    const waiting = this.waiting;
    this.waiting = null;
    if (waiting) {
      clearTimeout(waiting.timer);
      waiting.reject(e);
    }
    this.stop();
  }

  /** Ends the session (the agent stops, or the session failed). */
  stop(): void {
    const child = this.child;
    this.child = null;
    this.buffer = '';
    if (child) {
      child.stdin.end();
      child.kill('SIGTERM');
    }
  }
}
