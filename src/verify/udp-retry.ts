// A second and third chance for UDP probes met with silence where an answer
// was due. A host answers a closed UDP port with ICMP "port unreachable",
// and the kernel sends ICMP errors to one destination at about one a second
// after a small burst (net.ipv4.icmp_ratelimit): with denyAction reject, the
// peer's refusals of the other probes spend that burst, and a port that
// would have answered stays silent. So the silent ones are probed again,
// one per peer and plane at a time, a little over a second apart.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Plane } from '../config/model.js';
import { NO_ANSWER, type ProbeResult } from './probe.js';

/** The kernel's default ICMP rate limit to one destination is 1 s; a little more so that a token is there. */
const ROUND_GAP_MS = 1100;
export const UDP_RETRIES = 2;

export interface RetryJob {
  proto: string;
  plane: Plane;
  /** Who answers: the peer (or the VIP's address, before its holder is known). */
  target: string;
  /** An answer could be due (some policy lets it reach the peer): silence is worth a second look. */
  answerDue: boolean;
}

/** Probes again, in place in `answers`, the silent UDP jobs whose answer was due. */
export async function retrySilentUdp(
  jobs: RetryJob[],
  answers: ProbeResult[],
  probe: (i: number) => Promise<ProbeResult>,
): Promise<void> {
  const tries = new Map<number, number>();
  const pending = () =>
    jobs
      .map((_, i) => i)
      .filter(
        (i) =>
          jobs[i]!.proto === 'udp' && jobs[i]!.answerDue && answers[i]!.seen === NO_ANSWER && (tries.get(i) ?? 0) < UDP_RETRIES,
      );
  for (let left = pending(); left.length; left = pending()) {
    await sleep(ROUND_GAP_MS);
    const round = new Map<string, number>();
    for (const i of left) {
      const key = `${jobs[i]!.plane}|${jobs[i]!.target}`;
      if (!round.has(key)) round.set(key, i);
    }
    await Promise.all(
      [...round.values()].map(async (i) => {
        tries.set(i, (tries.get(i) ?? 0) + 1);
        answers[i] = await probe(i);
      }),
    );
  }
}
