// One writer at a time per network namespace: the daemon's reconciles, an
// operator's apply / confirm / flush, the rollback watcher of apply --confirm
// and ExecStartPre's apply --from-state all take this lock for their whole
// transaction (read live, write, read back, clean up).
//
// The lock is an abstract unix socket bound to a fixed name. Abstract names
// live in the network namespace (two namespaces on one host never block each
// other, which is also the scope of the tables we write), need no file, and
// are released by the kernel when the last process holding the socket dies:
// no stale lock after `kill -9`, no cleanup. flock(2) on a file would need a
// path per namespace and a writable folder in a ProtectSystem=strict unit.
// The holder answers a connection with who it is, so a writer that gives up
// can name it.
import net from 'node:net';
import { AfwError } from '../errors.js';
import type { ToolRunner } from './exec.js';

export const LOCK_NAME = '\0artesca-fw/write-lock';
export const DEFAULT_LOCK_WAIT_MS = 30_000;

export interface LockHolder {
  pid: number;
  command: string;
  since: string;
}

export interface HeldLock {
  /** How long the caller waited for it. */
  waitedMs: number;
  release(): Promise<void>;
}

/** `ARTESCA_FW_LOCK_WAIT` (seconds) overrides how long a writer waits; the default is 30 s. */
export function lockWaitMs(env: NodeJS.ProcessEnv = process.env): number {
  const s = Number(env.ARTESCA_FW_LOCK_WAIT);
  return env.ARTESCA_FW_LOCK_WAIT !== undefined && Number.isFinite(s) && s >= 0 ? s * 1000 : DEFAULT_LOCK_WAIT_MS;
}

function listen(server: net.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ path: LOCK_NAME });
  });
}

/** Asks the holder who it is; undefined when nobody answers (a tool left running by a writer that died). */
export function askHolder(timeoutMs = 300): Promise<LockHolder | undefined> {
  return new Promise((resolve) => {
    const sock = net.connect({ path: LOCK_NAME });
    let text = '';
    const done = (h: LockHolder | undefined) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(h);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      text += d;
    });
    sock.on('end', () => {
      try {
        done(JSON.parse(text) as LockHolder);
      } catch {
        done(undefined);
      }
    });
    sock.on('error', () => done(undefined));
  });
}

export class WriteLock {
  constructor(
    private readonly runner: ToolRunner,
    private readonly command: string,
    private readonly waitMs = lockWaitMs(),
  ) {}

  async acquire(): Promise<HeldLock> {
    const started = performance.now();
    const me: LockHolder = { pid: process.pid, command: this.command, since: '' };
    let pause = 2;
    for (;;) {
      const server = net.createServer((sock) => {
        sock.on('error', () => {});
        sock.end(`${JSON.stringify(me)}\n`);
      });
      try {
        await listen(server);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
          throw new AfwError('AFW_LOCK_FAILED', `cannot take the write lock: ${(err as Error).message}`, { cause: err });
        }
        const waited = performance.now() - started;
        if (waited >= this.waitMs) {
          const h = await askHolder();
          const who = h
            ? `held by pid ${h.pid} (artesca-fw ${h.command}) since ${h.since}`
            : 'held by a process that does not answer (a tool still running for a writer that died?)';
          throw new AfwError(
            'AFW_LOCK_TIMEOUT',
            `another writer kept the artesca-fw write lock of this network namespace for ${(waited / 1000).toFixed(1)} s: ${who}`,
          );
        }
        // Short, growing, jittered pauses: a writer's transaction takes milliseconds.
        await new Promise((r) => setTimeout(r, pause + Math.random() * pause));
        pause = Math.min(pause * 2, 50);
        continue;
      }
      // A one-shot command must be able to exit while holding it (the kernel releases it then).
      server.unref();
      me.since = new Date().toISOString();
      const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
      this.runner.shareLock(typeof fd === 'number' && fd >= 0 ? fd : null);
      let released = false;
      return {
        waitedMs: performance.now() - started,
        release: async () => {
          if (released) return;
          released = true;
          this.runner.shareLock(null);
          await new Promise<void>((r) => server.close(() => r()));
        },
      };
    }
  }

  /** Runs `fn` holding the lock, and releases it after, whatever happens. */
  async hold<T>(fn: () => Promise<T>): Promise<T> {
    const held = await this.acquire();
    try {
      return await fn();
    } finally {
      await held.release();
    }
  }
}
