// What the agent knows to be live without reading it. On nft, `nft monitor`
// reports every change to the ruleset as it happens, so once a read (or a
// write read back) has shown a ruleset live, it stays live until an event
// says someone else touched our chains, the events stop being heard, or a set
// check finds a set changed (sets have no events; the drift watcher's set
// check and periodic read-back stand behind them). A reconcile that finds the
// ruleset it compiled already known to be live reads nothing and starts no
// process. Felix keeps its dataplane state the same way (iptables/table.go:
// it rereads only when told the kernel moved). Pure state: no I/O.

export class KnownLive {
  private live: string | null = null;
  /** Bumped by each doubt: a read that started before it proves nothing. */
  private generation = 0;
  /** True while change events are heard (nft monitor subscribed and running). */
  private hearing = false;
  /** Why nothing is known (for the log and tests). */
  why = 'nothing read yet';

  /** Taken before reading what is live; a doubt after it voids what the read says. */
  mark(): number {
    return this.generation;
  }

  /** The ruleset `hash` was read live (or written and read back) by a read that started at `mark`. */
  vouch(hash: string, mark: number): void {
    if (mark === this.generation) this.live = hash;
  }

  /** Someone else may have changed what is live. */
  doubt(why: string): void {
    this.generation++;
    this.live = null;
    this.why = why;
  }

  /** Change events are heard from now on (true), or no longer (false: what was known is no longer kept up). */
  hearingEvents(on: boolean): void {
    if (!on) this.doubt('change events not heard');
    this.hearing = on;
  }

  /** Whether the ruleset `hash` is known live (events heard, nothing doubted since it was read). */
  knows(hash: string): boolean {
    return this.hearing && this.live === hash;
  }
}
