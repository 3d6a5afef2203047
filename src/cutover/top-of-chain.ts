// Living beside another writer that keeps its own rule first in a built-in
// chain: Calico's Felix in its default `chainInsertMode: Insert` puts its
// jump back on top whenever another rule takes it, and the agent did the same
// for its own jump, so the two moved their rules forever. Here the agent
// stops: when the same foreign rule displaces its jump a few times in a row,
// it yields the top of that chain (its jump stays present, wherever it
// stands), says so, and tries the top again after a backoff that doubles. The
// conflict clears by itself once the other rule no longer stands above the
// jump (Felix switched to `Append`), or once a retry keeps the top for a
// whole window.
//
// Pure: it is told what is live and when, and answers which chains are
// yielded. The reconciler owns one and passes it to the writes and the drift
// checks.
import type { Family } from '../config/model.js';
import { chainKey } from '../dataplane/changes.js';
import type { LiveFamily } from '../dataplane/live.js';

export interface ContestOptions {
  /** Displacements by the same rule, within `windowMs`, that make the agent yield. */
  repeats: number;
  windowMs: number;
  /** The first pause before the top is tried again; it doubles up to `maxBackoffMs`. */
  firstBackoffMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_CONTEST: ContestOptions = {
  repeats: 3,
  windowMs: 60_000,
  firstBackoffMs: 60_000,
  maxBackoffMs: 15 * 60_000,
};

/** A chain whose top the agent yielded to another writer's rule. */
export interface TopConflict {
  family: Family;
  table: string;
  chain: string;
  /** The rule that keeps taking the top (as iptables-save prints it, without `-A CHAIN`). */
  otherRule: string;
  since: string;
  /** Times that rule displaced the jump since the conflict began (the ones that led to it included). */
  displacements: number;
  /** When the agent next takes the top back (null while it is trying: it holds the top and waits to see). */
  retryAt: string | null;
  /** What happens, and what to do about it. */
  message: string;
  /** What shows it. */
  evidence: string;
}

export type ContestEvent =
  | { kind: 'yielded'; conflict: TopConflict }
  | { kind: 'cleared'; conflict: TopConflict; why: string }
  | { kind: 'displaced'; family: Family; table: string; chain: string; otherRule: string };

/** How a look at the tables came about: a read-back, or the read just before a write that puts the jumps first. */
export type Look = 'read' | 'before write';

interface ChainState {
  family: Family;
  table: string;
  chain: string;
  /** The last rule seen above the jump. */
  rule: string;
  /** Times of the recent displacements by `rule`. */
  recent: number[];
  /** Whether the jump was (or was just put) first at the last look. */
  onTop: boolean;
  /** Set while there is a conflict. */
  since?: number;
  displacements: number;
  /** While now < this, the top is yielded. */
  yieldedUntil: number;
  /** After a retry: the conflict clears if the top is kept until then. */
  quietUntil: number;
  backoffMs: number;
}

const BUILTINS = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);

/** Where, what it does and the way out, for a rule standing above our jump in a built-in chain. */
export function rivalAdvice(family: Family, table: string, chain: string, otherRule: string): string {
  const felix = /\bcali-/.test(otherRule);
  return `IPv${family} ${table} ${chain}: ${
    felix
      ? 'Calico\'s Felix keeps its rule first (chainInsertMode: Insert, its default): set it to Append (calicoctl patch felixconfiguration default --patch \'{"spec":{"chainInsertMode":"Append"}}\'); until then artesca-fw\'s jump stays second and sees only what Felix\'s rules let through'
      : "another writer keeps its rule first: make it append its rules (or stop it); until then artesca-fw's jump stays below it and sees only what that rule lets through"
  }`;
}

/** The rules that stand above our jump in a built-in chain, in what is live (what `check` reports). */
export function rivalsAbove(
  families: readonly LiveFamily[],
): { family: Family; table: string; chain: string; otherRule: string }[] {
  return families.flatMap((live) =>
    live.jumps
      .filter((j) => BUILTINS.has(j.builtin) && j.index > 1)
      .map((j) => ({
        family: live.family,
        table: j.table,
        chain: j.builtin,
        otherRule: live.tops.get(`${j.table} ${j.builtin}`) ?? '',
      })),
  );
}

export class TopOfChain {
  private readonly chains = new Map<string, ChainState>();

  constructor(
    private readonly opts: ContestOptions = DEFAULT_CONTEST,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Looks at what is live: each jump of ours in a built-in chain, and the rule
   * that stands first there. Returns what changed, for the log and metrics.
   */
  observe(families: readonly LiveFamily[], look: Look): ContestEvent[] {
    const events: ContestEvent[] = [];
    const now = this.now();
    for (const live of families) {
      for (const jump of live.jumps) {
        if (!BUILTINS.has(jump.builtin)) continue;
        const key = chainKey(live.family, jump.table, jump.builtin);
        const top = live.tops.get(`${jump.table} ${jump.builtin}`) ?? '';
        const s = this.state(key, live.family, jump.table, jump.builtin);
        if (jump.index === 1) this.onTop(s, now, events);
        else this.displaced(s, top, now, look, events);
      }
    }
    return events;
  }

  private state(key: string, family: Family, table: string, chain: string): ChainState {
    let s = this.chains.get(key);
    if (!s) {
      s = {
        family,
        table,
        chain,
        rule: '',
        recent: [],
        onTop: true,
        displacements: 0,
        yieldedUntil: 0,
        quietUntil: 0,
        backoffMs: this.opts.firstBackoffMs,
      };
      this.chains.set(key, s);
    }
    return s;
  }

  private onTop(s: ChainState, now: number, events: ContestEvent[]): void {
    s.onTop = true;
    if (s.since === undefined) return;
    if (now < s.yieldedUntil) {
      // Yielded, the jump was left where it stood, and it is first: the other rule moved away.
      this.clear(s, 'the other rule no longer stands above the jump', events);
    } else if (now >= s.quietUntil) {
      this.clear(s, `the jump kept the top for ${Math.round(this.opts.windowMs / 1000)} s after a retry`, events);
    }
  }

  private displaced(s: ChainState, top: string, now: number, look: Look, events: ContestEvent[]): void {
    if (top !== s.rule) {
      s.rule = top;
      s.recent = [];
    }
    const yielded = now < s.yieldedUntil;
    if (s.onTop && !yielded) {
      s.displacements++;
      s.recent = [...s.recent.filter((t) => now - t < this.opts.windowMs), now];
      events.push({ kind: 'displaced', family: s.family, table: s.table, chain: s.chain, otherRule: top });
      // Once in conflict, one displacement after a retry is enough to yield again.
      if (s.recent.length >= this.opts.repeats || s.since !== undefined) {
        s.since ??= now;
        s.yieldedUntil = now + s.backoffMs;
        s.backoffMs = Math.min(this.opts.maxBackoffMs, s.backoffMs * 2);
        s.recent = [];
        events.push({ kind: 'yielded', conflict: this.view(s, now) });
      }
    }
    s.onTop = false;
    if (look === 'before write' && now >= s.yieldedUntil) {
      // The write puts the jump first again (a repair, or a retry of a yielded top).
      s.onTop = true;
      if (s.since !== undefined) s.quietUntil = now + this.opts.windowMs;
    }
  }

  private clear(s: ChainState, why: string, events: ContestEvent[]): void {
    events.push({ kind: 'cleared', conflict: this.view(s, this.now()), why });
    s.since = undefined;
    s.displacements = 0;
    s.recent = [];
    s.yieldedUntil = 0;
    s.quietUntil = 0;
    s.backoffMs = this.opts.firstBackoffMs;
  }

  /** The chains whose top is yielded now: a jump there is in place wherever it stands (it must still be there). */
  yielded(): ReadonlySet<string> {
    const now = this.now();
    const out = new Set<string>();
    for (const [key, s] of this.chains) if (now < s.yieldedUntil) out.add(key);
    return out;
  }

  /** When the agent should look again without an event: a retry of the top, or the end of a retry's quiet window. */
  nextDueAt(): number | undefined {
    const now = this.now();
    const due = [...this.chains.values()]
      .filter((s) => s.since !== undefined)
      .map((s) => (now < s.yieldedUntil ? s.yieldedUntil : s.quietUntil))
      .filter((t) => t > 0);
    return due.length ? Math.min(...due) : undefined;
  }

  /**
   * The chains where, at the last look, another rule stood above our jump (yielded
   * or not yet repaired): what it accepts never reaches the jump. In audit
   * mode that traffic is neither counted nor recorded.
   */
  above(): { family: Family; table: string; chain: string; otherRule: string }[] {
    return [...this.chains.values()]
      .filter((s) => !s.onTop && s.rule !== '')
      .map((s) => ({ family: s.family, table: s.table, chain: s.chain, otherRule: s.rule }));
  }

  conflicts(): TopConflict[] {
    const now = this.now();
    return [...this.chains.values()].filter((s) => s.since !== undefined).map((s) => this.view(s, now));
  }

  private view(s: ChainState, now: number): TopConflict {
    return {
      family: s.family,
      table: s.table,
      chain: s.chain,
      otherRule: s.rule,
      since: new Date(s.since ?? now).toISOString(),
      displacements: s.displacements,
      retryAt: now < s.yieldedUntil ? new Date(s.yieldedUntil).toISOString() : null,
      message: rivalAdvice(s.family, s.table, s.chain, s.rule),
      evidence: `the rule "${s.rule}" displaced artesca-fw's jump ${s.displacements} times since ${new Date(s.since ?? now).toISOString()}`,
    };
  }
}
