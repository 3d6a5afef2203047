// Notices, within 2 seconds, when someone else changes artesca-fw's
// chains, jump rules or sets, cheaply even on a host with tens of thousands of
// other rules:
// - nft backend: `nft monitor` reports every ruleset change as it happens, with
//   the writer's PID; a change by someone else that touches an AFW- chain, a
//   built-in chain we jump from, or a whole table triggers a read-back. Idle costs
//   nothing.
// - legacy backend (no change events): a deleted jump or a flushed chain is
//   seen by the set check below (every jump and the last rule of every chain
//   match the always-empty watch set); the tables are also read, slowly, for
//   what that cannot see (legacy-poll.ts).
// - sets (no events either): `list -t` (headers only) every 1.5 s, asked of
//   one ipset process kept running (ipset-session.ts);
//   a set missing, with the wrong member count, or with fewer references
//   than our rules hold (a jump deleted, a chain of ours flushed, on either
//   backend) triggers a read-back.
// - a full read-back every few minutes as a safety net.
// What is heard keeps the ruleset known live (src/known-live/): a change by
// someone else, the monitor's end or a set check that fails makes it doubted.
// Events are heard only once the watch is armed (nft monitor subscribed):
// `arm` waits for that, then reads back once, so a change made between the
// agent's load and the arming is repaired too.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import readline from 'node:readline';
import type { Logger } from 'pino';
import { type Desired, desiredHash, setReferences } from '../compile/desired.js';
import { SET_PREFIX } from '../compile/ruleset.js';
import { desiredIsLive } from '../dataplane/changes.js';
import { IpsetSession } from '../dataplane/ipset-session.js';
import { readLive } from '../dataplane/live.js';
import { DEFAULT_LEGACY_POLL, LegacyPoller } from './legacy-poll.js';
import type { Reconciler } from './reconciler.js';

export interface DriftOptions {
  setCheckMs: number;
  legacyPollMs: number;
  fullCheckMs: number;
}

export const DEFAULT_DRIFT: DriftOptions = {
  setCheckMs: 1500,
  legacyPollMs: DEFAULT_LEGACY_POLL.pollMs,
  fullCheckMs: 300_000,
};

/** How long `arm` waits for nft monitor to subscribe before it goes on (and says so). */
const MONITOR_ARM_MS = 2000;
/** NETLINK_NETFILTER, and the bit of its nftables multicast group (NFNLGRP_NFTABLES = 7). */
const NETLINK_NETFILTER = '12';
const NFTABLES_GROUP_BIT = 1 << 6;

/**
 * Whether process `pid` holds a netfilter netlink socket subscribed to
 * nftables events (its network namespace's /proc/net/netlink: protocol, port
 * id, group bits): from then on, nft monitor hears every change.
 */
export async function monitorSubscribed(pid: number): Promise<boolean> {
  const table = await readFile(`/proc/${pid}/net/netlink`, 'utf8').catch(() => '');
  return table.split('\n').some((line) => {
    const [, proto, portId, groups] = line.trim().split(/\s+/);
    return (
      proto === NETLINK_NETFILTER && Number(portId) === pid && (Number.parseInt(groups ?? '0', 16) & NFTABLES_GROUP_BIT) !== 0
    );
  });
}

const RELEVANT = /^(add|insert|replace|delete|flush|destroy) (rule|chain|table|ruleset)/;
const JUMPED_FROM = /\b(ip6?|inet) (mangle|filter)( (PREROUTING|INPUT|FORWARD|OUTPUT)\b|\s*$| \{)/;

export class DriftWatcher {
  private timers: NodeJS.Timeout[] = [];
  private monitor: ChildProcess | null = null;
  private stopped = false;
  private checking = false;
  private scheduled: NodeJS.Timeout | null = null;
  /** Lines of the nft transaction being read (until its "# new generation" line). */
  private batch: string[] = [];
  /** The set references the rules last loaded hold (worked out once per ruleset). */
  private refs: { desired: Desired; refs: Map<string, number> } | null = null;
  /** One ipset process that answers every set check (ipset-session.ts). */
  private readonly ipset: IpsetSession;

  constructor(
    private readonly reconciler: Reconciler,
    private readonly log: Logger,
    private readonly opts: DriftOptions = DEFAULT_DRIFT,
  ) {
    this.ipset = new IpsetSession(reconciler.runner);
  }

  /**
   * Starts watching and resolves once changes are heard (nft monitor
   * subscribed, or polling started) and what is live was read back once.
   */
  async arm(): Promise<void> {
    this.timers.push(setInterval(() => void this.checkSets(), this.opts.setCheckMs));
    this.timers.push(setInterval(() => this.schedule('periodic read-back'), this.opts.fullCheckMs));
    await this.startMonitor();
    await this.check('drift watch armed');
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    if (this.scheduled) clearTimeout(this.scheduled);
    this.monitor?.kill('SIGTERM');
    this.ipset.stop();
    this.poller?.stop();
    this.reconciler.knownLive.hearingEvents(false);
  }

  /** Resolves once the monitor hears changes (or polling has started instead). */
  private async startMonitor(): Promise<void> {
    if (this.stopped) return;
    if (this.reconciler.tools?.backend === 'legacy') {
      this.startPolling('legacy backend has no change events');
      return;
    }
    const child = spawn('nft', ['monitor'], { shell: false, stdio: ['ignore', 'pipe', 'pipe'] });
    this.monitor = child;
    let gone = false;
    const known = this.reconciler.knownLive;
    // nft monitor complains on stderr when it loses events (a netlink buffer overrun): nothing is known then.
    child.stderr!.on('data', (b: Buffer) => {
      const why = `nft monitor: ${b.toString('utf8').trim().slice(0, 200)}`;
      known.doubt(why);
      this.schedule(why);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      gone = true;
      this.monitor = null;
      known.hearingEvents(false);
      this.startPolling(err.code === 'ENOENT' ? 'nft is not installed' : `nft monitor failed: ${err.message}`);
    });
    child.on('exit', () => {
      gone = true;
      if (this.monitor !== child || this.stopped) return;
      known.hearingEvents(false);
      this.monitor = null;
      // It should not end; start it again, and read back once it hears, in case something was missed meanwhile.
      setTimeout(() => void this.startMonitor().then(() => this.schedule('nft monitor restarted')), 1000).unref();
    });
    readline.createInterface({ input: child.stdout! }).on('line', (line) => this.onMonitorLine(line));
    const started = performance.now();
    while (!gone && !this.stopped && performance.now() - started < MONITOR_ARM_MS) {
      if (child.pid !== undefined && (await monitorSubscribed(child.pid))) {
        known.hearingEvents(true);
        return;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    if (!gone && !this.stopped) {
      this.log.warn(
        { event: 'drift', waitedMs: MONITOR_ARM_MS },
        'nft monitor not seen subscribed: going on (the set checks and the periodic read-back still look)',
      );
    }
  }

  private poller: LegacyPoller | null = null;
  private startPolling(why: string): void {
    if (this.poller || this.stopped) return;
    this.log.info(
      { event: 'drift', mode: 'poll', why, everyMs: this.opts.legacyPollMs },
      `drift: the set check sees deleted jumps and flushed chains; reading the mangle table of one family every ${this.opts.legacyPollMs} ms in turn, filter as often as its size allows (${why})`,
    );
    this.poller = new LegacyPoller(this.reconciler, (w) => this.schedule(w), this.log, {
      ...DEFAULT_LEGACY_POLL,
      pollMs: this.opts.legacyPollMs,
    });
    this.poller.start();
  }

  private onMonitorLine(line: string): void {
    const gen = /^# new generation \d+ by process (\d+)/.exec(line);
    if (gen) {
      const pid = Number(gen[1]);
      const lines = this.batch;
      this.batch = [];
      if (this.reconciler.runner.wroteRecently(pid)) return; // our own write
      const touched = lines.find(
        (l) => RELEVANT.test(l) && (l.includes('AFW-') || JUMPED_FROM.test(l) || / table /.test(l) || / ruleset/.test(l)),
      );
      if (touched) {
        const why = `changed by pid ${pid}: ${touched.slice(0, 120)}`;
        this.reconciler.knownLive.doubt(why);
        this.schedule(why);
      }
      return;
    }
    if (line.trim()) this.batch.push(line);
  }

  private async checkSets(): Promise<void> {
    const desired = this.reconciler.desired;
    if (!desired || this.checking || this.reconciler.busy) return;
    const headers = await this.setHeaders();
    if (headers === undefined) return;
    const counts = new Map<string, number>();
    const refsLive = new Map<string, number>();
    let name = '';
    for (const line of headers.split('\n')) {
      if (line.startsWith('Name: ')) name = line.slice(6).trim();
      else if (!name.startsWith(SET_PREFIX)) continue;
      else if (line.startsWith('Number of entries: ')) counts.set(name, Number(line.slice(19)));
      else if (line.startsWith('References: ')) refsLive.set(name, Number(line.slice(12)));
    }
    if (this.refs?.desired !== desired) this.refs = { desired, refs: setReferences(desired) };
    const refs = this.refs.refs;
    let why: string | undefined;
    const wrong = desired.sets.find((s) => counts.get(s.name) !== s.members.length);
    if (wrong) why = `set ${wrong.name}: ${counts.get(wrong.name) ?? 'missing'} members, want ${wrong.members.length}`;
    // More references than ours is someone else's rule using a set (not ours to judge); fewer is a rule of ours gone.
    const unreferenced = desired.sets.find((s) => (refsLive.get(s.name) ?? 0) < (refs.get(s.name) ?? 0));
    if (!why && unreferenced) {
      why = `set ${unreferenced.name}: ${refsLive.get(unreferenced.name) ?? 0} references, want ${refs.get(unreferenced.name)} (a rule using it was removed)`;
    }
    // A reconcile that wrote meanwhile moved both counts: the next check judges.
    if (!why || this.reconciler.busy || this.reconciler.desired !== desired) return;
    this.reconciler.knownLive.doubt(why);
    this.schedule(why);
  }

  /** The header of every set: from the ipset session, or from one `ipset -t list` when the session fails. */
  private async setHeaders(): Promise<string | undefined> {
    try {
      return await this.ipset.listHeaders();
    } catch (err) {
      this.log.debug({ event: 'drift', err: (err as Error).message }, 'ipset session failed: one ipset -t list instead');
      const res = await this.reconciler.runner.run('ipset', ['-t', 'list']).catch(() => undefined);
      return res?.code === 0 ? res.stdout : undefined;
    }
  }

  /** Coalesces triggers that come together into one read-back. */
  schedule(why: string): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = setTimeout(() => {
      this.scheduled = null;
      void this.check(why);
    }, 50);
  }

  private async check(why: string): Promise<void> {
    const desired = this.reconciler.desired;
    const tools = this.reconciler.tools;
    if (!desired || !tools || this.checking) return;
    if (this.reconciler.status.pendingConfirmation) return; // an apply --confirm trial owns the rules
    if (this.reconciler.busy) {
      // A reconcile is writing: look again once it is done.
      setTimeout(() => this.schedule(why), 200).unref();
      return;
    }
    this.checking = true;
    try {
      const mark = this.reconciler.knownLive.mark();
      const live = await readLive(tools);
      this.reconciler.noteLive(live.families);
      const isLive = desiredIsLive(desired, live, { yielded: this.reconciler.yielded() });
      if (isLive) this.reconciler.knownLive.vouch(desiredHash(desired), mark);
      else {
        this.log.warn({ event: 'drift', why }, 'drift: artesca-fw rules or sets changed by someone else');
        await this.reconciler.request('drift');
      }
    } catch (err) {
      this.log.error({ event: 'drift', err: (err as Error).message }, 'drift check failed');
    } finally {
      this.checking = false;
    }
  }
}
