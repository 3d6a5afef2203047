// The Prometheus metrics of the agent, on a registry of its own (prom-client
// does the exposition). Per-policy packet counters are read from the live rules
// at scrape time, through a collect callback.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface PolicyCounter {
  policy: string;
  endpoint: string;
  direction: string;
  /** allow, deny, log, base, failsafe, default-deny, audit. */
  decision: string;
  family: string;
  packets: number;
  bytes: number;
}

/** What the record of denied flows shows at scrape time (src/denied/). */
export interface DeniedFigures {
  byPlane: { plane: string; direction: string; flows: number; packets: number }[];
  overflow: number;
  readerUp: boolean;
}

export class Metrics {
  readonly registry = new Registry();
  /** The record of denied flows, set by the daemon once it has one. */
  deniedFigures: (() => DeniedFigures) | null = null;
  /** The daemon's last verify run (verify.intervalSeconds), null until one ran. */
  verifyFigures: (() => { probes: number; mismatches: number; at: number } | null) | null = null;
  readonly applies = new Counter({
    name: 'artesca_fw_applies_total',
    help: 'Reconciles by result: applied (something written), noop (nothing to write), invalid (config refused), error (load failed)',
    labelNames: ['result', 'reason'] as const,
    registers: [this.registry],
  });
  readonly applyDuration = new Histogram({
    name: 'artesca_fw_apply_duration_seconds',
    help: 'Duration of a reconcile that wrote to the kernel',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly driftRepairs = new Counter({
    name: 'artesca_fw_drift_repairs_total',
    help: 'Times a change made by someone else to artesca-fw rules, jumps or sets was repaired',
    registers: [this.registry],
  });
  readonly rules = new Gauge({
    name: 'artesca_fw_rules',
    help: 'Rules loaded, per address family',
    labelNames: ['family'] as const,
    registers: [this.registry],
  });
  readonly setMembers = new Gauge({
    name: 'artesca_fw_set_members',
    help: 'Members of each artesca-fw ipset',
    labelNames: ['set'] as const,
    registers: [this.registry],
  });
  readonly sets = new Gauge({ name: 'artesca_fw_sets', help: 'ipsets loaded', registers: [this.registry] });
  readonly toolRuns = new Counter({
    name: 'artesca_fw_tool_runs_total',
    help: 'Processes started (iptables-save/-restore, ipset, conntrack): each costs milliseconds of CPU, and drift polling on iptables-legacy is made of them',
    registers: [this.registry],
    collect: () => {
      this.toolRuns.reset();
      this.toolRuns.inc(this.toolRunsSoFar());
    },
  });
  readonly inventoryNodes = new Gauge({
    name: 'artesca_fw_inventory_nodes',
    help: 'Nodes in the inventory',
    registers: [this.registry],
  });
  readonly ready = new Gauge({
    name: 'artesca_fw_ready',
    help: '1 when the desired ruleset is live and matches',
    registers: [this.registry],
  });
  readonly configValid = new Gauge({
    name: 'artesca_fw_config_valid',
    help: '1 when the last read of config and inventory validated',
    registers: [this.registry],
  });
  readonly failures = new Counter({
    name: 'artesca_fw_apply_failures_total',
    help: 'Loads that failed (the previous rules stayed in force); each is retried with backoff',
    registers: [this.registry],
  });
  readonly consecutiveFailures = new Gauge({
    name: 'artesca_fw_apply_consecutive_failures',
    help: 'Failed loads since the last one that succeeded (0 when the last load succeeded)',
    registers: [this.registry],
  });
  readonly conflicts = new Gauge({
    name: 'artesca_fw_conflicting_firewalls',
    help: 'Other firewall managers active on the host (firewalld, ufw, the nftables service), per manager',
    labelNames: ['manager'] as const,
    registers: [this.registry],
  });
  readonly topConflicts = new Gauge({
    name: 'artesca_fw_top_of_chain_conflicts',
    help: "1 while the top of a built-in chain is yielded to another writer's rule that keeps displacing artesca-fw's jump (Felix in chainInsertMode Insert), per chain",
    labelNames: ['family', 'table', 'chain'] as const,
    registers: [this.registry],
  });
  readonly jumpDisplacements = new Counter({
    name: 'artesca_fw_jump_displacements_total',
    help: "Times another writer's rule took the top of a built-in chain above artesca-fw's jump, per chain",
    labelNames: ['family', 'table', 'chain'] as const,
    registers: [this.registry],
  });
  readonly lockWait = new Histogram({
    name: 'artesca_fw_lock_wait_seconds',
    help: 'Time a reconcile waited for the write lock of its network namespace',
    buckets: [0.001, 0.01, 0.1, 1, 5, 30],
    registers: [this.registry],
  });
  // Membership from Kubernetes (inventory.kubernetes); absent from the source: zero.
  readonly membershipSynced = new Gauge({
    name: 'artesca_fw_membership_synced',
    help: '1 once the first list of Node objects has been received from the API server',
    registers: [this.registry],
  });
  readonly membershipStale = new Gauge({
    name: 'artesca_fw_membership_stale',
    help: '1 while the API server cannot be followed (no watch running): the last membership is kept',
    registers: [this.registry],
  });
  readonly membershipRequests = new Counter({
    name: 'artesca_fw_membership_requests_total',
    help: 'Requests made to the API server, by kind (list page, watch)',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly membershipEvents = new Counter({
    name: 'artesca_fw_membership_events_total',
    help: 'Watch events received, by type',
    labelNames: ['type'],
    registers: [this.registry],
  });
  readonly membershipRefused = new Counter({
    name: 'artesca_fw_membership_refused_total',
    help: 'Memberships refused by a guard (local node missing, shrink beyond maxShrink)',
    registers: [this.registry],
  });
  readonly membershipLeftOut = new Gauge({
    name: 'artesca_fw_membership_left_out_nodes',
    help: 'Nodes left out of the membership (a plane IP missing or invalid)',
    registers: [this.registry],
  });
  readonly membershipLastEvent = new Gauge({
    name: 'artesca_fw_membership_last_event_timestamp_seconds',
    help: 'When the last list or watch event (bookmarks included) was received',
    registers: [this.registry],
  });
  readonly lastApply = new Gauge({
    name: 'artesca_fw_last_apply_timestamp_seconds',
    help: 'When the ruleset was last written',
    registers: [this.registry],
  });
  readonly rulesetInfo = new Gauge({
    name: 'artesca_fw_ruleset_info',
    help: 'Always 1: the ruleset in force (hash), the mode, and the roles it was compiled for; nodes of the same roles should share a hash',
    labelNames: ['node', 'roles', 'mode', 'hash'] as const,
    registers: [this.registry],
  });
  readonly setDeltas = new Counter({
    name: 'artesca_fw_set_deltas_total',
    help: 'Membership changes loaded as a delta of set members (applied), or refused by the kernel and reconciled whole (refused)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly changeToLive = new Histogram({
    name: 'artesca_fw_change_to_live_seconds',
    help: 'From a change heard (file, Node event, interface, signal) to the ruleset that follows it live in the kernel',
    labelNames: ['reason'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  /**
   * `readCounters`: the per-policy counters, read at scrape time;
   * `toolRunsSoFar`: the processes the agent has started.
   */
  constructor(
    readCounters: () => Promise<PolicyCounter[]>,
    private readonly toolRunsSoFar: () => number,
  ) {
    const labelNames = ['policy', 'endpoint', 'direction', 'decision', 'family'] as const;
    const packets = new Gauge({
      name: 'artesca_fw_policy_packets',
      help: 'Packets matched by the rules of each policy decision (read from the live rule counters)',
      labelNames,
      registers: [this.registry],
      async collect() {
        await fill(this, bytes, readCounters);
      },
    });
    const bytes = new Gauge({
      name: 'artesca_fw_policy_bytes',
      help: 'Bytes matched by the rules of each policy decision (read from the live rule counters)',
      labelNames,
      registers: [this.registry],
    });
    void packets;
    const denied = () => this.deniedFigures?.();
    const byPlane = (name: string, help: string, value: (d: DeniedFigures['byPlane'][number]) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['plane', 'direction'],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const d of denied()?.byPlane ?? []) this.set({ plane: d.plane, direction: d.direction }, value(d));
        },
      });
    byPlane(
      'artesca_fw_denied_flows',
      'Distinct flows in the record of denied flows (refused in enforce mode, would be refused in audit mode), by plane and direction',
      (d) => d.flows,
    );
    byPlane(
      'artesca_fw_denied_flow_packets',
      'Packets of the flows in the record of denied flows, by plane and direction (back to 0 when the record is reset)',
      (d) => d.packets,
    );
    new Gauge({
      name: 'artesca_fw_denied_overflow_flows',
      help: 'Denied flows that did not fit in the record (denied.maxFlows)',
      registers: [this.registry],
      collect() {
        this.set(denied()?.overflow ?? 0);
      },
    });
    const verified = () => this.verifyFigures?.() ?? null;
    for (const [name, help, value] of [
      ['artesca_fw_verify_probes', "Probes of the daemon's last verify run", (v: { probes: number }) => v.probes],
      [
        'artesca_fw_verify_mismatches',
        "Probes of the daemon's last verify run that did not answer as the policies say",
        (v: { mismatches: number }) => v.mismatches,
      ],
      [
        'artesca_fw_verify_last_run_timestamp_seconds',
        "When the daemon's last verify run ended",
        (v: { at: number }) => v.at / 1000,
      ],
    ] as const) {
      new Gauge({
        name,
        help: `${help} (absent until a run, verify.intervalSeconds)`,
        registers: [this.registry],
        collect() {
          this.reset();
          const v = verified();
          if (v) this.set((value as (x: typeof v) => number)(v));
        },
      });
    }
    new Gauge({
      name: 'artesca_fw_denied_reader_up',
      help: '1 while refused packets reach the record (the NFLOG reader is reading), 0 otherwise',
      registers: [this.registry],
      collect() {
        this.set(denied()?.readerUp ? 1 : 0);
      },
    });
  }
}

async function fill(packets: Gauge<string>, bytes: Gauge<string>, read: () => Promise<PolicyCounter[]>): Promise<void> {
  packets.reset();
  bytes.reset();
  let counters: PolicyCounter[];
  try {
    counters = await read();
  } catch {
    return; // a failed read leaves the series empty rather than failing the scrape
  }
  for (const c of counters) {
    const labels = { policy: c.policy, endpoint: c.endpoint, direction: c.direction, decision: c.decision, family: c.family };
    packets.inc(labels, c.packets);
    bytes.inc(labels, c.bytes);
  }
}
