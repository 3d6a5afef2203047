// The record of denied flows as the daemon runs it: the NFLOG reader feeds the
// record, the deciding rule comes from the ruleset in force, the record is
// saved to the state dir (every SAVE_MS while it changes, on reset and on
// stop) and read back at start. One instance, owned by the daemon.
import { rename } from 'node:fs/promises';
import type { Logger } from 'pino';
import { parseRecordPrefix, type RecordedRule, recordedRules } from '../compile/denied-rules.js';
import type { Ruleset } from '../compile/ruleset.js';
import { inCidr, parseAddress, parseCidr } from '../config/addresses.js';
import type { Config, DeniedSettings, Plane } from '../config/model.js';
import { PLANES } from '../config/model.js';
import { DEFAULTS } from '../config/validate-config.js';
import { asAfwError } from '../errors.js';
import type { DeniedFigures } from '../http/metrics.js';
import type { LoggedPacket } from './nflog-stream.js';
import { NflogReader, type ReaderStatus } from './reader.js';
import { DeniedRecord, type Flow, type RecordQuery } from './record.js';
import { loadRecord, recordFile, saveRecord } from './record-file.js';

/** At least this often, the record is written while it changes (the spec: at least once a minute). */
export const SAVE_MS = 30_000;
/** Distinct NFLOG prefixes remembered parsed (one per deny rule; more only from another user of the group). */
const PREFIX_CACHE = 256;
const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 112: 'vrrp', 4: 'ipip', 132: 'sctp' };

export interface DeniedView {
  mode: string;
  since: string;
  overflow: number;
  cleanSince: string | null;
  flows: (Omit<Flow, 'firstSeen' | 'lastSeen'> & { firstSeen: string; lastSeen: string })[];
}

const iso = (ms: number) => new Date(ms).toISOString();

export class DeniedFlows {
  private record: DeniedRecord;
  private readonly reader: NflogReader;
  private rules = new Map<string, RecordedRule>();
  private readonly prefixes = new Map<string, { id: string; text: string } | null>();
  private planeNets: { plane: Plane; cidr: NonNullable<ReturnType<typeof parseCidr>['cidr']> }[] = [];
  private settings: DeniedSettings = { ...DEFAULTS.denied };
  private mode = 'enforce';
  private node = '';
  private timer: NodeJS.Timeout | null = null;
  private saving: Promise<void> = Promise.resolve();
  /** Why the saved record was not loaded (a damaged file), until the next reset. */
  loadError: string | null = null;

  private constructor(
    private readonly stateDir: string,
    private readonly log: Logger,
  ) {
    this.record = new DeniedRecord(this.settings.maxFlows, Date.now());
    this.reader = new NflogReader(log, (p) => this.onPacket(p));
  }

  /** The record saved in stateDir, or a new one; a damaged file is set aside (`.damaged`) and named in the log and status. */
  static async open(stateDir: string, log: Logger): Promise<DeniedFlows> {
    const d = new DeniedFlows(stateDir, log);
    const file = recordFile(stateDir);
    try {
      const saved = await loadRecord(stateDir);
      if (saved) {
        d.record = DeniedRecord.fromValue(saved, d.settings.maxFlows);
        log.info({ event: 'denied', file, flows: d.record.size }, `record of denied flows read from ${file}`);
      }
    } catch (err) {
      const e = asAfwError(err);
      const aside = `${file}.damaged`;
      await rename(file, aside).catch(() => undefined);
      d.loadError = `${e.message} (set aside as ${aside}; a new record was started)`;
      log.error({ event: 'denied', code: e.code, file, problems: e.lines() }, `record of denied flows refused: ${d.loadError}`);
    }
    d.timer = setInterval(() => void d.save(), SAVE_MS);
    d.timer.unref();
    return d;
  }

  /** Follows the config and ruleset in force (after each reconcile; null: none loaded). */
  async configure(config: Config | null, ruleset: Ruleset | null): Promise<void> {
    if (config) {
      this.settings = config.denied;
      this.mode = config.mode;
      this.node = config.node.name;
      this.planeNets = PLANES.flatMap((plane) =>
        config.networks[plane].cidrs.flatMap((c) => {
          const cidr = parseCidr(c).cidr;
          return cidr ? [{ plane, cidr }] : [];
        }),
      );
    }
    if (ruleset) {
      // Rules of the ruleset before stay known: a packet logged just before a change still finds its rule.
      for (const [id, rule] of recordedRules(ruleset)) this.rules.set(id, rule);
      this.mode = ruleset.mode;
    }
    if (this.record.limit !== this.settings.maxFlows) this.record.setLimit(this.settings.maxFlows);
    await this.reader.follow(this.settings.record ? this.settings.nflogGroup : null);
  }

  private onPacket(p: LoggedPacket): void {
    let parsed = this.prefixes.get(p.prefix);
    if (parsed === undefined) {
      // A handful of prefixes, seen over and over: each is parsed once.
      if (this.prefixes.size >= PREFIX_CACHE) this.prefixes.clear();
      parsed = parseRecordPrefix(p.prefix) ?? null;
      this.prefixes.set(p.prefix, parsed);
    }
    if (!parsed) return; // not one of our rules (another NFLOG user of the group)
    const known = this.rules.get(parsed.id);
    const direction = known?.direction ?? (/ egress$/.test(parsed.text) ? 'egress' : 'ingress');
    const local = direction === 'ingress' ? p.dst : p.src;
    const peer = direction === 'ingress' ? p.src : p.dst;
    // Ingress: the local port asked for; egress: the remote port asked for. Both are the destination port.
    const port = p.dstPort;
    this.record.add(
      {
        direction,
        plane: this.planeOf(local, known?.planes),
        peer,
        proto: PROTO_NAMES[p.protocol] ?? String(p.protocol),
        port,
      },
      known?.rule ?? parsed.text,
      p.at,
    );
  }

  /** The endpoint's plane; when it carries both, the plane whose network holds the local address. */
  private planeOf(local: string, planes: Plane[] | undefined): string {
    if (planes?.length === 1) return planes[0]!;
    const addr = parseAddress(local);
    const hit = addr && this.planeNets.find((n) => (!planes || planes.includes(n.plane)) && inCidr(addr.text, n.cidr));
    return hit?.plane ?? (planes ?? []).join('+');
  }

  view(q: RecordQuery = {}): DeniedView {
    const s = this.record.summary(Date.now());
    return {
      mode: this.mode,
      since: iso(s.since),
      overflow: s.overflow,
      cleanSince: s.cleanSince === null ? null : iso(s.cleanSince),
      flows: this.record.query(q).map((f) => ({ ...f, firstSeen: iso(f.firstSeen), lastSeen: iso(f.lastSeen) })),
    };
  }

  /** The counts for /status. */
  status(): Record<string, unknown> & { reader: ReaderStatus } {
    const s = this.record.summary(Date.now());
    return {
      record: this.settings.record,
      wouldOnly: this.mode === 'audit',
      since: iso(s.since),
      flows: s.flows,
      flowPackets: s.packets,
      overflow: s.overflow,
      overflowPackets: s.overflowPackets,
      maxFlows: this.record.limit,
      lastRefused: s.lastRefused === null ? null : iso(s.lastRefused),
      cleanSince: s.cleanSince === null ? null : iso(s.cleanSince),
      byPlane: s.byPlane,
      reader: { ...this.reader.status },
      loadError: this.loadError,
    };
  }

  figures(): DeniedFigures {
    const s = this.record.summary(Date.now());
    return { byPlane: s.byPlane, overflow: s.overflow, readerUp: this.reader.status.state === 'reading' };
  }

  async reset(): Promise<void> {
    this.record.reset(Date.now());
    this.loadError = null;
    this.log.info({ event: 'denied' }, 'record of denied flows reset');
    await this.save();
  }

  /** Writes the record when it changed (one write at a time). */
  save(): Promise<void> {
    this.saving = this.saving.then(async () => {
      if (!this.record.dirty) return;
      this.record.dirty = false;
      try {
        await saveRecord(this.stateDir, this.node, this.record.head(), this.record.flowsNow());
      } catch (err) {
        this.record.dirty = true;
        this.log.warn({ event: 'denied', err: (err as Error).message }, 'record of denied flows not saved');
      }
    });
    return this.saving;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.reader.stop();
    await this.save();
  }
}
