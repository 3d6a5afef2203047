// One TCP probe: a connection or a reset means the packet reached a socket
// (the firewall let it through); silence, an ICMP "administratively
// prohibited" (EHOSTUNREACH) or a refusal by this host's own firewall (EPERM)
// means it was filtered.
import net from 'node:net';
import type { Answer } from './plan.js';

export interface ProbeResult {
  answer: Answer;
  /** What was seen: connected, reset, timeout, or the error code. */
  seen: string;
}

export function probeTcp(host: string, port: number, timeoutMs: number, localAddress?: string): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port, ...(localAddress ? { localAddress } : {}) });
    let done = false;
    const finish = (r: ProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ answer: 'filtered', seen: 'timeout' }), timeoutMs);
    sock.once('connect', () => finish({ answer: 'reached', seen: 'connected' }));
    sock.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') finish({ answer: 'reached', seen: 'reset' });
      // Anything else (EHOSTUNREACH for an ICMP refusal, EPERM for this host's own DROP, ...) did not reach a socket.
      else finish({ answer: 'filtered', seen: err.code ?? err.message });
    });
  });
}

/** Runs `jobs` with at most `limit` in flight; `onDone` after each (progress). */
export async function inParallel<T, R>(
  jobs: T[],
  limit: number,
  run: (job: T) => Promise<R>,
  onDone?: (done: number) => void,
): Promise<R[]> {
  const out: R[] = new Array(jobs.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await run(jobs[i]!);
      onDone?.(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return out;
}
