// The agent's one writer: compiles the node's desired ruleset and loads it.
// Reconciles are serialized (one at a time, requests during one coalesce into
// one more), each holds the write lock of the network namespace for its whole
// transaction (other writers: an operator's apply, confirm, flush), a failed
// load is retried with backoff, and every outcome updates the status, the
// metrics and the log.
import path from 'node:path';
import type { Logger } from 'pino';
import { countRuleset } from '../compile/describe.js';
import { countDesired, type Desired, desiredHash } from '../compile/desired.js';
import { desiredDelta } from '../compile/desired-delta.js';
import { type RuleLabels, ruleIndex } from '../compile/rule-index.js';
import type { Endpoint, Ruleset, UnresolvedPlane } from '../compile/ruleset.js';
import type { Config } from '../config/model.js';
import type { LoadedInventory } from '../config/validate-inventory.js';
import { ChunkedYamlReader } from '../config/yaml-chunks.js';
import { type ContestEvent, type Look, TopOfChain } from '../cutover/top-of-chain.js';
import { type ApplyReport, applyDesired, cutConnections, nothingDone } from '../dataplane/apply.js';
import { applyDelta } from '../dataplane/apply-delta.js';
import { type Backend, detectBackend, type Tools, toolsFor } from '../dataplane/backend.js';
import type { ToolRunner } from '../dataplane/exec.js';
import type { LiveFamily, LiveState } from '../dataplane/live.js';
import { WriteLock } from '../dataplane/write-lock.js';
import { AfwError, asAfwError } from '../errors.js';
import type { Metrics } from '../http/metrics.js';
import { KnownLive } from '../known-live/known-live.js';
import { Backoff, type RetryState } from './backoff.js';
import { compileNode, newCompileMemo } from './compile-node.js';
import { clearRolledBack, readPending, readRolledBack, rollbackIfUnconfirmed } from './confirm.js';
import type { ConflictWarning } from './conflicts.js';
import type { QuietCollector } from './memory.js';
import { hostInterfaces, interfaceSignature } from './sources.js';
import { saveState } from './state-store.js';
import { ThrottledWrite } from './throttled-write.js';

/** What may go in as a membership delta: the sources changed; nothing says the kernel did. */
const DELTA_REASONS: ReadonlySet<Reason> = new Set<Reason>(['file change', 'membership']);
/**
 * What may trust the ruleset known live (known-live.ts) instead of reading it:
 * a change of the sources. Drift, a retry, a signal, the top-of-chain contest
 * and startup always read what is live.
 */
const TRUSTING_REASONS: ReadonlySet<Reason> = new Set<Reason>(['file change', 'membership', 'interface change']);

export type Reason =
  | 'startup'
  | 'file change'
  | 'interface change'
  | 'membership'
  | 'drift'
  | 'signal'
  | 'state'
  | 'retry'
  | 'top of chain';

export interface ErrorView {
  code: string;
  message: string;
  problems: string[];
  at: string;
}

export interface AgentStatus {
  node: { name: string; roles: string[] };
  mode: string;
  endpoints: Endpoint[];
  unresolved: UnresolvedPlane[];
  inventory: { source: 'file' | 'kubernetes' | 'kubernetes cache'; file: string; nodes: number; loadedAt: string } | null;
  ruleset: {
    hash: string;
    appliedAt: string;
    rules: number;
    rulesByFamily: Record<string, number>;
    sets: number;
    setMembers: number;
    source: 'config' | 'last-known-good';
  } | null;
  backend: string | null;
  lastError: ErrorView | null;
  /** A failed load waiting for its next attempt: how many failed in a row, and when it tries again. */
  retry: RetryState | null;
  driftRepairs: number;
  lastReconcile: { reason: Reason; result: string; at: string; durationMs: number } | null;
  /** An `apply --confirm` trial in progress: the agent writes nothing until it ends. */
  pendingConfirmation: { hash: string; deadline: string } | null;
  /** Other firewall managers active on this host: they may remove our rules (we put them back). */
  conflicts: ConflictWarning[];
}

type Compiled = Awaited<ReturnType<typeof compileNode>>;

/** What one reconcile did, for the log, the status and the metrics. */
interface Outcome {
  reason: Reason;
  at: string;
  started: number;
  /** The runner's process count when the reconcile started (the log says how many it started). */
  startsBefore: number;
  compiledAt: number;
  node: Compiled;
  hash: string;
  report: ApplyReport;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/** A ruleset to store as the last-known-good copy. */
interface LastGood {
  stateDir: string;
  node: string;
  backend: Backend;
  desired: Desired;
  hash: string;
}

/** The last-known-good copy is written at most this often (the first change at once, a burst's newest after). */
const STATE_WRITE_INTERVAL_MS = 1000;

export class Reconciler {
  readonly status: AgentStatus = {
    node: { name: '', roles: [] },
    mode: '',
    endpoints: [],
    unresolved: [],
    inventory: null,
    ruleset: null,
    backend: null,
    lastError: null,
    retry: null,
    driftRepairs: 0,
    lastReconcile: null,
    pendingConfirmation: null,
    conflicts: [],
  };
  /** What was last loaded (drift is measured against it). */
  desired: Desired | null = null;
  ruleset: Ruleset | null = null;
  index: Map<string, RuleLabels> = new Map();
  tools: Tools | null = null;
  /** Paths the file watcher must follow (config, inventory, kubeconfig). */
  watched: string[] = [];
  /** The config of the last reconcile that read one (the daemon follows inventory.kubernetes from it). */
  config: Config | null = null;
  /** With inventory.kubernetes: the membership in force (undefined: read the cache file). */
  membership: (() => LoadedInventory | undefined) | undefined;
  /**
   * The digest of each file the last read of the sources read, of the very
   * text it read, whether or not it validated: what the daemon's content
   * check compares the files with.
   */
  readDigests: ReadonlyMap<string, string> = new Map();
  /** The interfaces the last compile resolved the planes against (the interface watcher starts from them). */
  interfacesRead = '';
  /**
   * Set by the daemon once its file, interface and drift watchers are armed
   * and what they follow was compared with what was loaded: not ready before,
   * since a change made then could go unseen.
   */
  armed = false;

  private running: Promise<void> | null = null;
  /**
   * Reasons heard while a reconcile ran. A drift repair is kept apart from the
   * rest (and runs first): folded into a reconcile of another reason, the
   * repair it makes would be counted as an apply, not as a repair.
   */
  private pending: Reason[] = [];
  /** When the first change not yet taken up by a reconcile was heard; `answering`: that of the running reconcile. */
  private heardAt: number | null = null;
  private answering: number | null = null;
  private trialTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly backoff = new Backoff();
  /** The ruleset the current reconcile tries to load (a failure of another one starts the backoff again). */
  private attempting: string | null = null;
  private readonly lock: WriteLock;
  /** The next look at a yielded top of chain (a retry, or the end of a retry's quiet window). */
  private contestTimer: NodeJS.Timeout | null = null;
  /** Parsed inventory items kept between reconciles: an edit re-parses only the nodes it changed. */
  private readonly inventoryReader = new ChunkedYamlReader('nodes');
  /** The last sources and compile: the same files, membership and interfaces are not compiled again. */
  private readonly compileMemo = newCompileMemo();
  /** The last-known-good copy: written once per second at most (the newest of a burst). */
  private readonly lastGood = new ThrottledWrite<LastGood>((s) => this.storeLastGood(s), STATE_WRITE_INTERVAL_MS);

  constructor(
    private readonly configFile: string,
    private readonly stateDir: string,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    readonly runner: ToolRunner,
    private readonly collector: QuietCollector,
    /** Who has the top of the built-in chains: yields to another writer that keeps taking it. */
    readonly topOfChain: TopOfChain = new TopOfChain(),
    /** The ruleset known live from change events (the drift watcher keeps it up). */
    readonly knownLive: KnownLive = new KnownLive(),
  ) {
    this.watched = [configFile];
    this.lock = new WriteLock(runner, 'run');
  }

  /** Ready: something loaded, no plane waiting for its interface, the last read validated. */
  readiness(): { ready: boolean; reason: string } {
    if (this.status.pendingConfirmation) {
      const p = this.status.pendingConfirmation;
      return { ready: false, reason: `awaiting confirmation of ruleset ${p.hash} until ${p.deadline} (artesca-fw confirm)` };
    }
    if (!this.status.ruleset) return { ready: false, reason: 'no ruleset loaded yet' };
    if (!this.armed) return { ready: false, reason: 'starting: the file, interface and drift watchers are not armed yet' };
    if (this.status.lastError) return { ready: false, reason: `${this.status.lastError.code}: ${this.status.lastError.message}` };
    if (this.status.ruleset.source !== 'config') return { ready: false, reason: 'running on the last-known-good ruleset' };
    if (this.status.unresolved.length) {
      return { ready: false, reason: `waiting for ${this.status.unresolved.map((u) => `${u.plane}: ${u.reason}`).join('; ')}` };
    }
    return { ready: true, reason: 'the desired ruleset is live' };
  }

  /** The daemon's watchers are armed: readiness now depends on the rules alone. */
  markArmed(): void {
    this.armed = true;
    this.metrics.ready.set(this.readiness().ready ? 1 : 0);
  }

  /** Loads the last-known-good ruleset (boot protection) before any config is read. */
  async loadLastGood(desired: Desired, backend: Backend, savedAt: string): Promise<void> {
    const tools = toolsFor(backend, this.runner);
    const started = performance.now();
    const report = await this.lock.hold(() => applyDesired(desired, tools, { beforeWrite: this.beforeWrite }));
    this.tools = tools;
    this.desired = desired;
    this.status.backend = tools.backend;
    this.status.ruleset = {
      hash: desiredHash(desired),
      appliedAt: new Date().toISOString(),
      ...countDesired(desired),
      source: 'last-known-good',
    };
    this.log.info(
      {
        event: 'apply',
        reason: 'state',
        changed: report.changed,
        durationMs: Math.round(performance.now() - started),
        savedAt,
        hash: this.status.ruleset.hash,
      },
      'loaded the last-known-good ruleset',
    );
  }

  /** Requests a reconcile; resolves when one that started after the request has finished. */
  request(reason: Reason): Promise<void> {
    this.heardAt ??= performance.now();
    if (this.running) {
      // The running loop picks this up when the current reconcile ends.
      if (!this.pending.includes(reason)) this.pending.push(reason);
      return this.running;
    }
    this.running = this.loop(reason).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async loop(first: Reason): Promise<void> {
    let reason: Reason | null = first;
    while (reason) {
      // What this reconcile answers was heard then (the first change it folds in).
      this.answering = this.heardAt;
      this.heardAt = null;
      await this.reconcile(reason);
      reason = this.nextPending();
    }
    this.collector.collectWhenQuiet();
  }

  /** 'drift' first when it waits; every other reason waiting is folded into one reconcile (the first heard names it). */
  private nextPending(): Reason | null {
    if (this.pending.includes('drift')) {
      this.pending = this.pending.filter((r) => r !== 'drift');
      return 'drift';
    }
    const next = this.pending[0] ?? null;
    this.pending = [];
    return next;
  }

  /** Resolves once no reconcile runs or waits. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  get busy(): boolean {
    return this.running !== null;
  }

  /** Stops the timers; resolves once the last-known-good copy of what is in force is written. */
  async stop(): Promise<void> {
    for (const t of [this.trialTimer, this.retryTimer, this.contestTimer]) if (t) clearTimeout(t);
    await this.lastGood.flush();
  }

  /** The chains whose top is yielded now (drift checks accept our jump anywhere there). */
  yielded(): ReadonlySet<string> {
    return this.topOfChain.yielded();
  }

  /** What is live, as read by a drift check or a write: the contest for the top of chains looks at it. */
  noteLive(families: readonly LiveFamily[], look: Look = 'read'): void {
    for (const e of this.topOfChain.observe(families, look)) this.reportContest(e);
    // After every look: a retry that took the top back starts a quiet window with no event.
    this.scheduleContestLook();
  }

  /** Passed to every write: observe, then say which tops are yielded. */
  private readonly beforeWrite = (snapshot: LiveState): ReadonlySet<string> => {
    this.noteLive(snapshot.families, 'before write');
    return this.topOfChain.yielded();
  };

  private reportContest(e: ContestEvent): void {
    if (e.kind === 'displaced') {
      this.metrics.jumpDisplacements.inc({ family: `ipv${e.family}`, table: e.table, chain: e.chain });
      const { family, table, chain, otherRule } = e;
      this.log.debug(
        { event: 'conflict', kind: 'top of chain', family, table, chain, otherRule },
        `IPv${family} ${table} ${chain}: jump displaced`,
      );
      return;
    }
    const c = e.conflict;
    const where = `IPv${c.family} ${c.table} ${c.chain}`;
    const labels = { family: `ipv${c.family}`, table: c.table, chain: c.chain };
    if (e.kind === 'yielded') {
      this.metrics.topConflicts.set(labels, 1);
      this.log.warn(
        { event: 'conflict', kind: 'top of chain', ...c },
        `${where}: the rule "${c.otherRule}" keeps taking the top above artesca-fw's jump (${c.displacements} times): leaving the jump below it (present) and taking the top again at ${c.retryAt}; ${c.message}`,
      );
    } else {
      this.metrics.topConflicts.set(labels, 0);
      this.log.info(
        { event: 'conflict', kind: 'top of chain', ...c, why: e.why },
        `${where}: no more conflict over the top (${e.why})`,
      );
    }
  }

  /** A yielded top is tried again, and a retry's quiet window ends, without waiting for an event. */
  private scheduleContestLook(): void {
    if (this.contestTimer) clearTimeout(this.contestTimer);
    this.contestTimer = null;
    const at = this.topOfChain.nextDueAt();
    if (at === undefined) return;
    this.contestTimer = setTimeout(
      () => {
        this.contestTimer = null;
        void this.request('top of chain');
      },
      Math.max(0, at - Date.now()) + 10,
    );
    this.contestTimer.unref();
  }

  /** One reconcile: everything that reads or writes the kernel happens holding the write lock. */
  private async reconcile(reason: Reason): Promise<void> {
    const at = new Date().toISOString();
    const started = performance.now();
    let removedPeers: string[] = [];
    this.attempting = null;
    try {
      const held = await this.lock.acquire();
      this.metrics.lockWait.observe(held.waitedMs / 1000);
      try {
        removedPeers = await this.reconcileHoldingLock(reason, at, started);
      } finally {
        await held.release();
      }
    } catch (err) {
      this.recordFailure(reason, at, started, asAfwError(err));
      return;
    }
    // Not a write of the ruleset: done after the lock is given back.
    if (removedPeers.length > 0) await this.cutRemovedPeers(removedPeers);
  }

  /** Returns the peers whose connections are to be cut. */
  private async reconcileHoldingLock(reason: Reason, at: string, started: number): Promise<string[]> {
    const startsBefore = this.runner.starts;
    if (await this.trialInProgress()) return [];
    const node = await this.compileOrRefuse(reason, at, started);
    if (!node) return [];
    this.followSources(node);
    const hash = node.hash;
    this.attempting = hash;
    if (await this.heldBackByRollback(hash, reason, at, started)) return [];
    const tools = await this.chooseTools(node.sources.config.backend);
    const compiledAt = performance.now();
    // Taken before anything is read: a change heard after it voids what this reconcile reads.
    const mark = this.knownLive.mark();
    const inForce = this.status.ruleset?.source === 'config' ? this.status.ruleset.hash : null;
    const wasKnown = inForce !== null && this.status.backend === tools.backend && this.knownLive.knows(inForce);
    // The new rules are reported live first; removed peers' connections are cut right after.
    const report =
      (wasKnown && hash === inForce && TRUSTING_REASONS.has(reason) ? nothingDone(tools.backend, 'known') : null) ??
      (await this.applyAsDelta(reason, node, tools)) ??
      (await applyDesired(node.desired, tools, { connectionCut: 'caller', beforeWrite: this.beforeWrite }));
    // A whole reconcile read what is live (and read back what it wrote); a delta
    // changed only members of a ruleset that was known live.
    if (report.via === 'full' || (report.via === 'delta' && wasKnown)) this.knownLive.vouch(hash, mark);
    const storeState = report.changed || this.status.ruleset?.hash !== hash;
    this.recordApplied({ reason, at, started, startsBefore, compiledAt, node, hash, report });
    // The rules are live and said so; now the last-known-good copy for the next boot
    // (at once, or with the next changes of a burst: throttled-write.ts).
    if (storeState) {
      this.lastGood.request({
        stateDir: node.sources.config.stateDir,
        node: node.ruleset.node.name,
        backend: tools.backend,
        desired: node.desired,
        hash: node.hash,
      });
    }
    return report.removedPeers;
  }

  /**
   * A change of membership (a Node event, an inventory edit) that changed only
   * set members goes in as a delta from the desired state in force, read from
   * memory as Felix keeps its ipsets: one `ipset restore` of the members that
   * changed, nothing read first. null: not a delta (or the kernel refused it),
   * and the whole ruleset is reconciled.
   */
  private async applyAsDelta(reason: Reason, node: Compiled, tools: Tools): Promise<ApplyReport | null> {
    if (!DELTA_REASONS.has(reason) || !this.desired || this.status.ruleset?.source !== 'config') return null;
    if (this.status.backend !== tools.backend) return null;
    const delta = desiredDelta(this.desired, node.desired);
    if (!delta || delta.edits.length === 0) return null; // nothing to add or delete: the full path also looks at what is live
    try {
      const report = await applyDelta(delta, tools);
      this.metrics.setDeltas.inc({ result: 'applied' });
      return report;
    } catch (err) {
      const e = asAfwError(err);
      this.metrics.setDeltas.inc({ result: 'refused' });
      this.log.warn(
        { event: 'apply', reason, delta: delta.edits.length, err: e.message },
        `membership delta refused by the kernel (${e.message}): reconciling the whole ruleset`,
      );
      return null;
    }
  }

  /**
   * An `apply --confirm` trial owns the rules until it is confirmed or rolled
   * back: the agent writes nothing meanwhile (not even drift repair), and looks
   * again every second. A trial whose deadline passed with its watcher gone
   * (a reboot, a kill) is rolled back here (the caller holds the lock).
   */
  private async trialInProgress(): Promise<boolean> {
    let pending = await readPending(this.stateDir).catch((err: unknown) => {
      this.log.error({ event: 'confirm', err: asAfwError(err).lines() }, 'pending trial file refused');
      return undefined;
    });
    if (pending && Date.now() >= Date.parse(pending.deadline) + 2000) {
      this.log.warn(
        { event: 'confirm', hash: pending.tentativeHash },
        'trial not confirmed and its watcher is gone: rolling back',
      );
      await rollbackIfUnconfirmed(this.stateDir, this.runner, pending.createdAt);
      pending = undefined;
    }
    if (!pending) {
      if (this.status.pendingConfirmation)
        this.log.info({ event: 'confirm', hash: this.status.pendingConfirmation.hash }, 'trial ended');
      this.status.pendingConfirmation = null;
      return false;
    }
    if (!this.status.pendingConfirmation) {
      this.log.info(
        { event: 'confirm', hash: pending.tentativeHash, deadline: pending.deadline },
        'apply --confirm trial in progress: writing nothing until it ends',
      );
    }
    this.status.pendingConfirmation = { hash: pending.tentativeHash, deadline: pending.deadline };
    this.metrics.ready.set(0);
    if (!this.trialTimer) {
      this.trialTimer = setTimeout(() => {
        this.trialTimer = null;
        void this.request('retry');
      }, 1000);
      this.trialTimer.unref();
    }
    return true;
  }

  /** Reads and compiles config and inventory; a refusal changes nothing live. */
  private async compileOrRefuse(reason: Reason, at: string, started: number): Promise<Compiled | undefined> {
    const digests = new Map<string, string>();
    const interfaces = hostInterfaces();
    this.interfacesRead = interfaceSignature(interfaces);
    try {
      const node = await compileNode(this.configFile, {
        inventoryReader: this.inventoryReader,
        membership: this.membership ?? (() => undefined),
        onRead: (file, digest) => digests.set(path.resolve(file), digest),
        compileMemo: this.compileMemo,
        interfaces,
        // Published once the read is whole: a content check in the middle of it
        // compares with the previous read, never with a half-filled map (a file
        // missing from it would be judged against a stale baseline and reported).
      }).finally(() => {
        this.readDigests = digests;
      });
      this.metrics.configValid.set(1);
      return node;
    } catch (err) {
      // Drift (or a retry of its repair) while the config is broken: put back what was last loaded.
      if ((reason === 'drift' || reason === 'retry' || reason === 'top of chain') && this.desired && this.tools) {
        await this.repair();
        return undefined;
      }
      const e = asAfwError(err);
      this.recordError(e, at);
      this.metrics.applies.inc({ result: 'invalid', reason });
      this.metrics.configValid.set(0);
      this.metrics.ready.set(0);
      this.status.lastReconcile = { reason, result: 'invalid', at, durationMs: performance.now() - started };
      this.log.error(
        { event: 'apply', reason, result: 'invalid', code: e.code, problems: e.lines() },
        `config refused, rules unchanged: ${e.lines()[0]}`,
      );
      return undefined;
    }
  }

  /** What the sources just read name to follow (whether or not their rules load): the config and the watched files. */
  private followSources(node: Compiled): void {
    const { config } = node.sources;
    this.config = config;
    this.watched = [this.configFile, config.inventoryFile, ...(config.kubernetes ? [config.kubernetes.kubeconfig] : [])];
  }

  /**
   * The status half of the sources, once their rules are live: /status describes
   * the rules in force, so a load the kernel refuses (or one held back) leaves
   * the node, endpoints and inventory of the rules still in force.
   */
  private noteInForce(node: Compiled, at: string): void {
    const { config, inventory } = node.sources;
    this.status.node = node.ruleset.node;
    this.status.mode = config.mode;
    this.status.endpoints = node.ruleset.endpoints;
    this.status.unresolved = node.ruleset.unresolved;
    this.status.inventory = {
      source: node.sources.inventorySource,
      file: inventory.file,
      nodes: inventory.nodes.length,
      loadedAt: at,
    };
    this.metrics.inventoryNodes.set(inventory.nodes.length);
  }

  /**
   * The config asks for exactly the ruleset whose trial was not confirmed:
   * keep the one that came back, and say so (until the config changes or an
   * operator applies it by hand).
   */
  private async heldBackByRollback(hash: string, reason: Reason, at: string, started: number): Promise<boolean> {
    const rolledBack = await readRolledBack(this.stateDir).catch(() => undefined);
    if (!rolledBack) return false;
    if (rolledBack.refusedHash !== hash) {
      await clearRolledBack(this.stateDir);
      return false;
    }
    this.tools = toolsFor(rolledBack.backend, this.runner);
    this.desired = rolledBack.restored;
    if (reason === 'drift') await this.repair();
    this.recordError(
      new AfwError(
        'AFW_NOT_CONFIRMED',
        `ruleset ${rolledBack.refusedHash} was not confirmed and was rolled back at ${rolledBack.at}: change the config, or run "artesca-fw apply" to load it anyway`,
      ),
      at,
    );
    this.metrics.ready.set(0);
    this.status.lastReconcile = { reason, result: 'held', at, durationMs: performance.now() - started };
    this.log.warn(
      { event: 'apply', reason, result: 'held', refused: rolledBack.refusedHash },
      'not loading a ruleset that was rolled back',
    );
    return true;
  }

  /** The backend is detected once (or each time the config names one). */
  private async chooseTools(choice: 'auto' | Backend): Promise<Tools> {
    if (!this.tools || choice !== 'auto') {
      const detected = await detectBackend(choice, this.runner);
      if (this.tools?.backend !== detected.backend) {
        this.log.info(
          { event: 'backend', backend: detected.backend, why: detected.reason },
          `iptables backend: ${detected.backend}`,
        );
      }
      this.tools = toolsFor(detected.backend, this.runner);
    }
    return this.tools;
  }

  /** A load that went through: status, metrics and the log line. */
  private recordApplied(o: Outcome): void {
    const { reason, at, started, startsBefore, node, hash, report } = o;
    // A write of the very ruleset already in force restores what someone else changed, whatever asked for the reconcile.
    const sameRuleset = this.status.ruleset?.hash === hash && this.status.ruleset.source === 'config';
    this.noteInForce(node, at);
    const counts = countRuleset(node.ruleset);
    this.desired = node.desired;
    this.ruleset = node.ruleset;
    this.index = ruleIndex(node.ruleset);
    this.status.backend = report.backend;
    if (report.changed || this.status.ruleset?.hash !== hash || this.status.ruleset.source !== 'config') {
      this.status.ruleset = { hash, appliedAt: at, ...counts, source: 'config' };
      this.metrics.lastApply.set(Date.now() / 1000);
    }
    this.status.lastError = null;
    this.succeeded();
    // Taking a yielded top back is a repair too: another writer moved the jump.
    const repair = reason === 'drift' || reason === 'top of chain' || sameRuleset;
    const result = report.changed ? (repair ? 'repaired' : 'applied') : 'noop';
    if (result === 'repaired') {
      this.status.driftRepairs++;
      this.metrics.driftRepairs.inc();
    }
    this.metrics.applies.inc({ result, reason });
    if (report.changed) this.metrics.applyDuration.observe(report.durationMs / 1000);
    if (report.changed && result === 'applied' && this.answering !== null)
      this.metrics.changeToLive.observe({ reason }, (performance.now() - this.answering) / 1000);
    this.metrics.rulesetInfo.reset();
    this.metrics.rulesetInfo.set(
      { node: node.ruleset.node.name, roles: node.ruleset.node.roles.join(',') || 'none', mode: node.ruleset.mode, hash },
      1,
    );
    this.metrics.rules.set({ family: 'ipv4' }, counts.rulesByFamily.ipv4 ?? 0);
    this.metrics.rules.set({ family: 'ipv6' }, counts.rulesByFamily.ipv6 ?? 0);
    this.metrics.sets.set(counts.sets);
    this.metrics.setMembers.reset();
    for (const s of node.ruleset.sets) this.metrics.setMembers.set({ set: s.name }, s.members.length);
    const durationMs = performance.now() - started;
    this.status.lastReconcile = { reason, result, at, durationMs };
    this.metrics.ready.set(this.readiness().ready ? 1 : 0);
    const fields = {
      event: 'apply',
      reason,
      result,
      hash,
      durationMs: round1(durationMs),
      // Where the time went: reading + validating + compiling, then loading into the kernel.
      compileMs: round1(o.compiledAt - started),
      loadMs: round1(report.durationMs),
      via: report.via,
      // Processes started for this reconcile (each is a fork of the agent; artesca_fw_tool_runs_total counts them all).
      toolRuns: this.runner.starts - startsBefore,
      loadSteps: Object.fromEntries(Object.entries(report.steps).map(([k, v]) => [k, round1(v)])),
      rules: counts.rules,
      sets: counts.sets,
      chainsRewritten: report.chainsRewritten,
      setsUpdated: report.setsUpdated,
      unresolved: node.ruleset.unresolved,
    };
    if (result === 'repaired') this.log.warn(fields, 'repaired a change made by someone else to artesca-fw rules or sets');
    else if (report.changed) this.log.info(fields, `applied ruleset ${hash} (${reason})`);
    else if (report.via === 'known')
      this.log.info(fields, `ruleset ${hash} known live from change events, nothing read or written (${reason})`);
    else this.log.info(fields, `ruleset ${hash} already live, nothing written (${reason})`);
  }

  /**
   * Stores a ruleset that went live as the last-known-good copy, holding the
   * write lock (in order with an operator's apply, which stores its own). Not
   * while an `apply --confirm` trial runs: its confirmation or rollback decides
   * what the copy holds.
   */
  private async storeLastGood(s: LastGood): Promise<void> {
    try {
      await this.lock.hold(async () => {
        if (await readPending(this.stateDir).catch(() => undefined)) return;
        await saveState(s.stateDir, s.node, s.backend, s.desired, s.hash);
      });
    } catch (err) {
      const e = asAfwError(err);
      this.log.error(
        { event: 'state', code: e.code },
        `rules are live, but the last-known-good copy was not stored: ${e.message}`,
      );
    }
  }

  /** A load (or the lock) failed: the previous rules stay, and the load is tried again later. */
  private recordFailure(reason: Reason, at: string, started: number, e: AfwError): void {
    this.recordError(e, at);
    this.metrics.applies.inc({ result: 'error', reason });
    this.metrics.ready.set(0);
    this.status.lastReconcile = { reason, result: 'error', at, durationMs: performance.now() - started };
    const retry = this.scheduleRetry();
    this.log.error(
      { event: 'apply', reason, result: 'error', code: e.code, step: e.step, retry },
      `load failed, previous rules in force: ${e.message}; trying again in ${Math.round(retry.delayMs / 100) / 10} s`,
    );
  }

  /**
   * Drift repair puts back what was last loaded, without reading the config:
   * someone else's change to our rules is undone even while the config is
   * broken. The caller holds the lock.
   */
  private async repair(): Promise<void> {
    const at = new Date().toISOString();
    const started = performance.now();
    const report = await applyDesired(this.desired!, this.tools!, { beforeWrite: this.beforeWrite });
    if (report.changed) {
      this.status.driftRepairs++;
      this.metrics.driftRepairs.inc();
      this.metrics.applies.inc({ result: 'repaired', reason: 'drift' });
      this.metrics.applyDuration.observe(report.durationMs / 1000);
      this.log.warn(
        {
          event: 'apply',
          reason: 'drift',
          result: 'repaired',
          durationMs: round1(report.durationMs),
          chainsRewritten: report.chainsRewritten,
          jumpsInserted: report.jumpsInserted,
          jumpsDeleted: report.jumpsDeleted,
          setsCreated: report.setsCreated,
          setsUpdated: report.setsUpdated,
        },
        'repaired a change made by someone else to artesca-fw rules or sets',
      );
    }
    this.succeeded();
    this.status.lastReconcile = {
      reason: 'drift',
      result: report.changed ? 'repaired' : 'noop',
      at,
      durationMs: performance.now() - started,
    };
  }

  private succeeded(): void {
    this.backoff.succeeded();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.status.retry = null;
    this.metrics.consecutiveFailures.set(0);
  }

  private scheduleRetry(): RetryState {
    const delayMs = this.backoff.failed(this.attempting);
    this.metrics.failures.inc();
    this.metrics.consecutiveFailures.set(this.backoff.consecutive);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.request('retry');
    }, delayMs);
    this.retryTimer.unref();
    this.status.retry = { failures: this.backoff.consecutive, delayMs, nextAt: new Date(Date.now() + delayMs).toISOString() };
    return this.status.retry;
  }

  /** Cuts the tracked connections of peers that lost access (they would otherwise last as long as they run). */
  private async cutRemovedPeers(peers: string[]): Promise<void> {
    try {
      const cut = await cutConnections(this.runner, peers);
      this.log.info({ event: 'connections', peers, cut }, `cut ${cut} connection(s) of ${peers.length} removed peer(s)`);
    } catch (err) {
      const e = asAfwError(err);
      this.log.error(
        { event: 'connections', peers, code: e.code },
        `could not cut the connections of removed peers: ${e.message}`,
      );
    }
  }

  private recordError(e: AfwError, at: string): void {
    this.status.lastError = { code: e.code, message: e.message, problems: e.lines(), at };
  }
}
