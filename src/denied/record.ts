// The record of denied flows: what the ruleset refused (enforce) or would have
// refused (audit), by flow key, with packets, first and last seen and the
// deciding rule. Bounded by maxFlows: a key that does not fit is counted in
// overflow, never dropped silently. Pure state: the reader feeds it, the
// daemon owns it, record-file.ts keeps it across restarts.
import type { Direction } from '../compile/ruleset.js';

export interface FlowKey {
  direction: Direction;
  /** The plane of the local address (the endpoint's planes joined with "+" when it cannot tell). */
  plane: string;
  /** The remote address. */
  peer: string;
  /** tcp, udp, icmp, ... or the protocol number. */
  proto: string;
  /** The local port (ingress) or the remote port (egress); null for protocols without ports. */
  port: number | null;
}

export interface Flow extends FlowKey {
  packets: number;
  /** ms since the epoch. */
  firstSeen: number;
  lastSeen: number;
  /** The deciding rule, as `explain` names it. */
  rule: string;
}

/** What the record holds, as stored and as restored. */
export interface RecordValue {
  /** ms since the epoch: when the record started (first start, or the last reset). */
  since: number;
  /** Distinct keys that did not fit (packets once the overflow keys themselves no longer fit). */
  overflow: number;
  overflowPackets: number;
  /** ms since the epoch of the last refused packet (overflow included); 0: none since `since`. */
  lastRefused: number;
  flows: Flow[];
}

export interface RecordQuery {
  /** Only flows seen at or after this time (ms). */
  since?: number;
  /** At most this many flows, busiest first. */
  top?: number;
}

/** Refusals this recent mean the record is not clean (cleanSince is null). */
export const CLEAN_WINDOW_MS = 60_000;

/**
 * How many overflow keys are remembered, per key the record holds: so many
 * distinct keys beyond maxFlows are counted exactly; past that, each packet of
 * a key not remembered counts as a new key (an overcount, never an undercount).
 */
export const OVERFLOW_MEMORY = 10;

function keyOf(k: FlowKey): string {
  return `${k.direction}|${k.plane}|${k.peer}|${k.proto}|${k.port ?? ''}`;
}

export class DeniedRecord {
  private flows = new Map<string, Flow>();
  /** Keys counted in overflow, remembered (up to OVERFLOW_MEMORY x maxFlows of them) so each is counted once. */
  private overflowKeys = new Set<string>();
  private value: Omit<RecordValue, 'flows'>;
  /** Changed since the last save. */
  dirty = false;

  constructor(
    private maxFlows: number,
    now: number,
  ) {
    this.value = { since: now, overflow: 0, overflowPackets: 0, lastRefused: 0 };
  }

  get size(): number {
    return this.flows.size;
  }

  get limit(): number {
    return this.maxFlows;
  }

  /** A new bound (a reload): the least recently seen flows beyond it move to overflow. */
  setLimit(maxFlows: number): void {
    this.maxFlows = maxFlows;
    if (this.flows.size <= maxFlows) return;
    const byAge = [...this.flows.entries()].sort((a, b) => a[1].lastSeen - b[1].lastSeen);
    for (const [key, flow] of byAge.slice(0, this.flows.size - maxFlows)) {
      this.flows.delete(key);
      this.value.overflow++;
      this.value.overflowPackets += flow.packets;
    }
    this.dirty = true;
  }

  add(key: FlowKey, rule: string, at: number, packets = 1): void {
    this.dirty = true;
    this.value.lastRefused = Math.max(this.value.lastRefused, at);
    const k = keyOf(key);
    const flow = this.flows.get(k);
    if (flow) {
      flow.packets += packets;
      flow.lastSeen = Math.max(flow.lastSeen, at);
      flow.rule = rule;
      return;
    }
    if (this.flows.size < this.maxFlows) {
      this.flows.set(k, { ...key, packets, firstSeen: at, lastSeen: at, rule });
      return;
    }
    this.value.overflowPackets += packets;
    if (this.overflowKeys.has(k)) return;
    this.value.overflow++;
    if (this.overflowKeys.size < OVERFLOW_MEMORY * this.maxFlows) this.overflowKeys.add(k);
  }

  reset(now: number): void {
    this.flows.clear();
    this.overflowKeys.clear();
    this.value = { since: now, overflow: 0, overflowPackets: 0, lastRefused: 0 };
    this.dirty = true;
  }

  /** Busiest first (then most recent). */
  query(q: RecordQuery = {}): Flow[] {
    let list = [...this.flows.values()];
    if (q.since !== undefined) list = list.filter((f) => f.lastSeen >= q.since!);
    list.sort((a, b) => b.packets - a.packets || b.lastSeen - a.lastSeen);
    return q.top !== undefined ? list.slice(0, q.top) : list;
  }

  /** The time since which nothing was refused; null while refusals go on (one within CLEAN_WINDOW_MS). */
  cleanSince(now: number): number | null {
    const last = this.value.lastRefused;
    if (last === 0) return this.value.since;
    return now - last < CLEAN_WINDOW_MS ? null : last;
  }

  summary(now: number) {
    const byPlane = new Map<string, { plane: string; direction: Direction; flows: number; packets: number }>();
    let packets = 0;
    for (const f of this.flows.values()) {
      packets += f.packets;
      const k = `${f.plane}|${f.direction}`;
      const e = byPlane.get(k) ?? { plane: f.plane, direction: f.direction, flows: 0, packets: 0 };
      e.flows++;
      e.packets += f.packets;
      byPlane.set(k, e);
    }
    return {
      since: this.value.since,
      flows: this.flows.size,
      packets,
      overflow: this.value.overflow,
      overflowPackets: this.value.overflowPackets,
      lastRefused: this.value.lastRefused || null,
      cleanSince: this.cleanSince(now),
      byPlane: [...byPlane.values()],
    };
  }

  /** The record's counts, without the flows (with flowsNow(): what is saved). */
  head(): Omit<RecordValue, 'flows'> {
    return { ...this.value };
  }

  /** The flows as they are (not copies): for saving, read and not kept. */
  flowsNow(): Iterable<Flow> {
    return this.flows.values();
  }

  /** The record as it was saved (flows beyond maxFlows go to overflow, as in setLimit). */
  static fromValue(v: RecordValue, maxFlows: number): DeniedRecord {
    const r = new DeniedRecord(Number.MAX_SAFE_INTEGER, v.since);
    r.value = { since: v.since, overflow: v.overflow, overflowPackets: v.overflowPackets, lastRefused: v.lastRefused };
    for (const f of v.flows) r.flows.set(keyOf(f), { ...f });
    r.setLimit(maxFlows);
    r.dirty = false;
    return r;
  }
}
