// One probe. TCP: a connection or a reset means the packet reached a socket
// (the firewall let it through); silence, an ICMP "administratively
// prohibited" (EHOSTUNREACH) or a refusal by this host's own firewall (EPERM)
// means it was filtered. UDP: an answer or an ICMP "port unreachable"
// (ECONNREFUSED on a connected socket) means it reached the host's sockets;
// "administratively prohibited" means filtered; silence cannot tell a
// filtered datagram from a service that ignores it (seen: NO_ANSWER).
import dgram from 'node:dgram';
import net from 'node:net';
import type { Answer } from './plan.js';

export interface ProbeResult {
  answer: Answer;
  /** What was seen: connected, reset, timeout, or the error code. */
  seen: string;
}

/** The first result wins; `onTimeout` after `timeoutMs`; `close` once, whatever ended it. */
function firstResult(resolve: (r: ProbeResult) => void, timeoutMs: number, onTimeout: ProbeResult, close: () => void) {
  let done = false;
  const finish = (r: ProbeResult) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    close();
    resolve(r);
  };
  const timer = setTimeout(() => finish(onTimeout), timeoutMs);
  return finish;
}

export function probeTcp(host: string, port: number, timeoutMs: number, localAddress?: string): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port, ...(localAddress ? { localAddress } : {}) });
    const finish = firstResult(resolve, timeoutMs, { answer: 'filtered', seen: 'timeout' }, () => sock.destroy());
    sock.once('connect', () => finish({ answer: 'reached', seen: 'connected' }));
    sock.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') finish({ answer: 'reached', seen: 'reset' });
      // Anything else (EHOSTUNREACH for an ICMP refusal, EPERM for this host's own DROP, ...) did not reach a socket.
      else finish({ answer: 'filtered', seen: err.code ?? err.message });
    });
  });
}

export const NO_ANSWER = 'no answer';

export function probeUdp(host: string, port: number, timeoutMs: number, localAddress?: string): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const finish = firstResult(resolve, timeoutMs, { answer: 'filtered', seen: NO_ANSWER }, () => sock.close());
    sock.once('message', () => finish({ answer: 'reached', seen: 'answered' }));
    sock.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') finish({ answer: 'reached', seen: 'port unreachable' });
      else finish({ answer: 'filtered', seen: err.code ?? err.message });
    });
    const send = () =>
      sock.connect(port, host, () => sock.send(Buffer.from('artesca-fw verify\n'), (err) => err && sock.emit('error', err)));
    if (localAddress) sock.bind({ address: localAddress, port: 0 }, send);
    else send();
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
