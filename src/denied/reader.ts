// Reads the packets the deny rules send to NFLOG. Node cannot open a netlink
// socket, so a tcpdump process does it (`-i nflog:GROUP`, Debian's tcpdump on
// libpcap) and writes a pcap stream to a pipe; nflog-stream.ts reads it.
//
// The process runs in the agent's network namespace (NFLOG is per namespace)
// and changes no setting anywhere; it dies with the agent (setpriv
// --pdeathsig). If it ends, it is started again after a
// pause (1 s doubling to 60 s), and the status says why it ended.
//
// `-Z root`: Debian's tcpdump, started by root, drops to its own user after
// opening the capture; the agent (under its unit, without CAP_KILL) could then
// no longer stop it. It stays root, holding only the unit's capabilities; it
// copies packets without reading them (`-w`): the bytes are read here.
import { type ChildProcess, spawn } from 'node:child_process';
import readline from 'node:readline';
import type { Logger } from 'pino';
import { Backoff } from '../agent/backoff.js';
import { type LoggedPacket, NflogStream } from './nflog-stream.js';

/** The netlink receive buffer asked of libpcap (KiB): a burst of refused packets waits there, not lost. */
const BUFFER_KIB = 4096;
const TCPDUMP = 'tcpdump';
const RETRY = { firstMs: 1000, maxMs: 60_000 };
/** How long the agent waits for tcpdump to listen before going on without it. */
const START_WAIT_MS = 5000;

export type ReaderState = 'off' | 'starting' | 'reading' | 'failed';

export interface ReaderStatus {
  state: ReaderState;
  group: number | null;
  /** Why the reader is not reading (the reader's own words). */
  error: string | null;
  restarts: number;
  /** Packets read since the agent started. */
  packets: number;
  /** Records that were not packets the agent could read. */
  skipped: number;
}

export class NflogReader {
  private child: ChildProcess | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  /** Set by stop(): a reconcile that ends after the agent began to stop must not start a reader again. */
  private stopped = false;
  private readonly backoff = new Backoff(Math.random, RETRY);
  readonly status: ReaderStatus = { state: 'off', group: null, error: null, restarts: 0, packets: 0, skipped: 0 };

  constructor(
    private readonly log: Logger,
    private readonly onPacket: (p: LoggedPacket) => void,
  ) {}

  /** Reads `group` (null: stops reading). Resolves once tcpdump listens, or has failed to. */
  async follow(group: number | null): Promise<void> {
    if (this.stopped) return;
    if (group === this.status.group && this.status.state !== 'off') return;
    this.stopChild();
    this.status.group = group;
    this.backoff.succeeded();
    if (group === null) {
      this.status.state = 'off';
      this.status.error = null;
      return;
    }
    await this.start(group);
  }

  private start(group: number): Promise<void> {
    this.status.state = 'starting';
    // setpriv (util-linux) asks the kernel to kill tcpdump when the agent dies, however it dies:
    // a reader left behind would hold the NFLOG group, and the next agent could not read it.
    const args = [
      '--pdeathsig',
      'KILL',
      '--',
      TCPDUMP,
      '-Z',
      'root',
      '-i',
      `nflog:${group}`,
      '-w',
      '-',
      '-U',
      '-n',
      '-B',
      String(BUFFER_KIB),
    ];
    const child = spawn('setpriv', args, { shell: false, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const stream = new NflogStream();
    const errors: string[] = [];
    return new Promise<void>((resolve) => {
      // A reader that neither listens nor ends must not hold the agent's start (status says "starting").
      setTimeout(resolve, START_WAIT_MS).unref();
      child.stdout!.on('data', (chunk: Buffer) => {
        try {
          stream.push(chunk, (p) => {
            this.status.packets++;
            this.onPacket(p);
          });
          this.status.skipped = stream.skipped;
        } catch (err) {
          errors.push((err as Error).message);
          child.kill('SIGKILL');
        }
      });
      readline.createInterface({ input: child.stderr! }).on('line', (line) => {
        if (/^(tcpdump: )?listening on /.test(line)) {
          this.status.state = 'reading';
          this.status.error = null;
          this.backoff.succeeded();
          this.log.info({ event: 'denied', group, pid: child.pid }, `reading refused packets from NFLOG group ${group}`);
          resolve();
        } else if (line.trim() && !/dropped privs|packets? (captured|received|dropped)/.test(line)) {
          errors.push(line.trim());
          if (errors.length > 5) errors.shift();
        }
      });
      const ended = (why: string) => {
        if (this.child !== child) return resolve();
        this.child = null;
        this.status.state = 'failed';
        this.status.error = errors.length ? `${why}: ${errors.join('; ')}` : why;
        const delay = this.backoff.failed(null);
        this.status.restarts++;
        this.log.warn(
          { event: 'denied', group, error: this.status.error, retryInMs: delay },
          `the NFLOG reader ended (${this.status.error}); the record misses refused packets until it is back`,
        );
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          if (this.status.group === group && !this.child && !this.stopped) void this.start(group);
        }, delay);
        this.retryTimer.unref();
        resolve();
      };
      child.on('error', (err: NodeJS.ErrnoException) =>
        ended(err.code === 'ENOENT' ? 'setpriv (util-linux) is not installed' : `setpriv: ${err.message}`),
      );
      child.on('exit', (code, signal) => ended(`${TCPDUMP} exited (${signal ?? `code ${code}`})`));
    });
  }

  private stopChild(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const child = this.child;
    this.child = null;
    if (!child) return;
    // SIGKILL: tcpdump's SIGTERM handler only breaks its loop at the next packet, which may never come.
    child.kill('SIGKILL');
    // Whatever becomes of it, it no longer keeps the agent's event loop (and its exit) waiting.
    child.stdout?.destroy();
    child.stderr?.destroy();
    child.unref();
  }

  stop(): void {
    this.stopped = true;
    this.stopChild();
    this.status.state = 'off';
  }
}
