// `artesca-fw run`: load the last-known-good ruleset, then the config; follow
// file and interface changes, repair drift, serve status. Stopping leaves the
// rules in force (fail closed); only `flush` removes them.
import pino, { type Logger } from 'pino';
import { type ContestOptions, TopOfChain } from '../cutover/top-of-chain.js';
import { readCounters } from '../dataplane/counters.js';
import { ToolRunner } from '../dataplane/exec.js';
import { DeniedFlows } from '../denied/denied-flows.js';
import { asAfwError } from '../errors.js';
import { listenControl } from '../http/control.js';
import { Metrics, type PolicyCounter } from '../http/metrics.js';
import { buildServer } from '../http/server.js';
import { MetricsListener } from '../monitoring/metrics-listener.js';
import { VerifySchedule } from '../verify/schedule.js';
import { runVerify } from '../verify/verify-command.js';
import { VERSION } from '../version.js';
import { ConflictWatcher } from './conflicts.js';
import { DEFAULT_DRIFT, type DriftOptions, DriftWatcher } from './drift.js';
import { KubeMembership } from './kube-membership.js';
import { QuietCollector } from './memory.js';
import { type Reason, Reconciler } from './reconciler.js';
import { loadConfigOnly } from './sources.js';
import { loadState } from './state-store.js';
import { ContentCheck, type FileFollower, FileWatcher, InterfaceWatcher } from './watchers.js';

export const DEFAULT_STATE_DIR = '/var/lib/artesca-fw';
const DEFAULT_LISTEN = { host: '127.0.0.1', port: 9900 };
const COUNTER_CACHE_MS = 500;
/** How often the followed files' text is compared with what the agent acted on, whatever the file watcher says. */
export const DEFAULT_CONTENT_CHECK_MS = 10_000;
/** How often other firewall managers are looked for. */
const CONFLICT_CHECK_MS = 30_000;

export interface DaemonOptions {
  configFile: string;
  /** Overrides the config's stateDir (and is used when the config cannot be read). */
  stateDir?: string;
  logger?: Logger;
  drift?: Partial<DriftOptions>;
  /** The file watcher (default: chokidar through FileWatcher); tests give one that loses events. */
  fileWatcher?: (onChange: (file: string) => void, onError: (err: Error) => void) => FileFollower;
  /** The content check's interval (default DEFAULT_CONTENT_CHECK_MS). */
  contentCheckMs?: number;
  /** The top-of-chain contest's timings (default DEFAULT_CONTEST); tests shorten them. */
  contest?: ContestOptions;
}

function memoryFigures(): Record<string, number> {
  const m = process.memoryUsage();
  const mb = (n: number) => Math.round((n / 1048576) * 10) / 10;
  return { rssMb: mb(m.rss), heapUsedMb: mb(m.heapUsed), heapTotalMb: mb(m.heapTotal), externalMb: mb(m.external) };
}

export function makeLogger(): Logger {
  return pino({
    base: { service: 'artesca-fw' },
    level: process.env.ARTESCA_FW_LOG_LEVEL ?? 'info',
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

export async function runDaemon(opts: DaemonOptions): Promise<{ stop: () => Promise<void> }> {
  const log = opts.logger ?? makeLogger();
  const startedAt = new Date();
  let heartbeat = Date.now();
  const beat = setInterval(() => {
    heartbeat = Date.now();
  }, 1000);

  let reconciler: Reconciler;
  // Counters are read from the kernel at most twice a second, however many
  // scrapes and status requests arrive: concurrent callers share one read.
  let countersCache: { at: number; value: Promise<PolicyCounter[]> } | null = null;
  const policyCounters = (): Promise<PolicyCounter[]> => {
    if (countersCache && Date.now() - countersCache.at < COUNTER_CACHE_MS) return countersCache.value;
    const value = readPolicyCounters();
    countersCache = { at: Date.now(), value };
    value.catch(() => {
      countersCache = null;
    });
    return value;
  };
  const readPolicyCounters = async (): Promise<PolicyCounter[]> => {
    if (!reconciler.tools) return [];
    const live = await readCounters(reconciler.tools);
    const byPolicy = new Map<string, PolicyCounter>();
    for (const c of live) {
      const labels = reconciler.index.get(`${c.chain}/${c.hash}`);
      if (!labels) continue;
      const key = Object.values(labels).join('\0');
      const entry = byPolicy.get(key) ?? { ...labels, packets: 0, bytes: 0 };
      entry.packets += c.packets;
      entry.bytes += c.bytes;
      byPolicy.set(key, entry);
    }
    return [...byPolicy.values()];
  };
  const runner = new ToolRunner();
  const metrics = new Metrics(policyCounters, () => runner.starts);

  // The config names the state dir and the status address; when it cannot be
  // read, the defaults still let the agent protect the node and answer.
  let stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
  let listen = DEFAULT_LISTEN;
  try {
    const { config } = await loadConfigOnly(opts.configFile);
    stateDir = opts.stateDir ?? config.stateDir;
    listen = config.status;
  } catch (err) {
    log.warn(
      { event: 'startup', err: asAfwError(err).lines() },
      'config unreadable at start: using the default state dir and status address',
    );
  }
  const configFile = opts.configFile;
  const collector = new QuietCollector();
  reconciler = new Reconciler(configFile, stateDir, log, metrics, runner, collector, new TopOfChain(opts.contest));
  // Membership from the API server (inventory.kubernetes): each change is a reconcile, like a file edit.
  const kube = new KubeMembership(log, metrics, () => trigger('membership'), collector);
  reconciler.membership = () => kube.current;
  /**
   * inventory.kubernetes follows the config file, read on its own: the first
   * membership must be fetched even while the inventory (its cache) is missing.
   */
  const followConfig = async (opts: { reload?: boolean } = {}) => {
    const config = await loadConfigOnly(configFile).then(
      (l) => l.config,
      () => reconciler.config,
    );
    if (config) await kube.configure(config, opts);
  };

  // 1. Protection before the config is used: the last-known-good ruleset.
  try {
    const state = await loadState(stateDir);
    await reconciler.loadLastGood(state.desired, state.backend, state.savedAt);
  } catch (err) {
    const e = asAfwError(err);
    if (e.code === 'AFW_STATE_MISSING') log.info({ event: 'startup', stateDir }, 'no last-known-good ruleset yet');
    else log.warn({ event: 'startup', code: e.code, err: e.message }, 'last-known-good ruleset not loaded');
  }

  // The record of denied flows: what was saved, then the reader once the ruleset is known.
  const denied = await DeniedFlows.open(stateDir, log);
  metrics.deniedFigures = () => denied.figures();
  // verify on a schedule (verify.intervalSeconds, off by default): its last result in /status and the metrics.
  const verifier = new VerifySchedule(() => runVerify(opts.configFile, { quiet: true, membership: () => kube.current }), log);
  metrics.verifyFigures = () => {
    const last = verifier.status.last;
    return last && !last.error ? { probes: last.probes, mismatches: last.mismatches, at: Date.parse(last.at) } : null;
  };

  // The cluster's scrape endpoint (metrics.listen, off by default).
  const metricsListener = new MetricsListener(metrics, log, () => collector.served());

  /** After each reconcile: the record's reader, the verify schedule and the scrape endpoint follow the config and ruleset in force. */
  const followInForce = async () => {
    await denied.configure(reconciler.config, reconciler.ruleset);
    verifier.configure(reconciler.config?.verify.intervalSeconds ?? 0);
    // Opened once the rule that lets the infra nodes in is live (the config in force is that of the ruleset loaded).
    if (reconciler.config) await metricsListener.configure(reconciler.config.metrics.listen);
  };

  // The control socket is a convenience: the agent enforces without it.
  const control = await listenControl(stateDir, { resetDenied: () => denied.reset() }).catch((err: Error) => {
    log.warn(
      { event: 'startup', err: err.message },
      `control socket not available (artesca-fw denied --reset will not work): ${err.message}`,
    );
    return null;
  });

  // Known before the first answer of the status server, and looked at again every 30 s.
  const conflicts = new ConflictWatcher(runner, log, metrics, (found) => {
    reconciler.status.conflicts = found;
  });
  await conflicts.check();

  // 2. The status server answers from the start (readyz says why it is not ready yet).
  const server = buildServer(
    {
      alive: () => Date.now() - heartbeat < 5000,
      readiness: () => reconciler.readiness(),
      status: async () => {
        // What was denied (enforce) or would have been (audit), per endpoint,
        // direction and deciding policy, from the live rule counters.
        const byDecision = (await policyCounters().catch(() => []))
          .filter((c) => c.decision === 'deny' || c.decision === 'audit')
          .map(({ policy, endpoint, direction, family, packets, bytes }) => ({
            endpoint,
            direction,
            policy,
            family,
            packets,
            bytes,
          }));
        const k8s = kube.view();
        return {
          ...reconciler.status,
          // Other firewall managers, and other writers keeping the top of a chain from our jump.
          conflicts: [...reconciler.status.conflicts, ...reconciler.topOfChain.conflicts()],
          // Audit sees only what reaches our jumps: a rule above one may accept traffic first.
          auditHidden:
            reconciler.status.mode === 'audit'
              ? reconciler.topOfChain.above().map((a) => ({
                  ...a,
                  message: `IPv${a.family} ${a.table} ${a.chain}: the rule "${a.otherRule}" stands above artesca-fw's jump: what it accepts (itself or through the chain it jumps to) never reaches the audit, and is neither counted nor recorded`,
                }))
              : [],
          // With inventory.kubernetes, the source's state shows even before any membership was loaded.
          inventory: k8s ? { ...reconciler.status.inventory, kubernetes: k8s } : reconciler.status.inventory,
          ready: reconciler.readiness(),
          denied: {
            // The kernel's counters of the deny rules (exact, with no flow keys)...
            wouldOnly: reconciler.status.mode === 'audit',
            byDecision,
            packets: byDecision.reduce((s, d) => s + d.packets, 0),
            // ...and the record of denied flows (flow keys, as far as the NFLOG rate allows).
            ...denied.status(),
          },
          verify: verifier.status,
          metrics: metricsListener.status,
          version: VERSION,
          startedAt: startedAt.toISOString(),
          pid: process.pid,
          memory: memoryFigures(),
        };
      },
      denied: (q) => denied.view(q),
      served: () => collector.served(),
    },
    metrics,
  );
  await server.listen({ host: listen.host, port: listen.port });
  log.info({ event: 'startup', listen: `${listen.host}:${listen.port}`, version: VERSION }, 'status server listening');

  // 3. The config, now; then the watchers, each from what the agent acted on.
  function trigger(reason: Reason): Promise<void> {
    return reconciler
      .request(reason)
      .then(() => followInForce())
      .then(() => contentCheck.remember(reconciler.watched)) // before followConfig reads the kubeconfig
      .then(() => followConfig())
      .then(() => files.setFiles(reconciler.watched))
      .then(async (added) => {
        // A newly followed file may have changed between the read and its watch.
        if (added) await contentCheck.checkAndAct();
      });
  }
  /** A followed file changed (`seenBy`: the file watcher, or the content check that backs it up). */
  function fileChanged(file: string, seenBy: 'watcher' | 'content check'): Promise<void> {
    const config = reconciler.config;
    if (config?.kubernetes && file === config.inventoryFile && kube.current) {
      // The cache of the membership: ours, or an operator's apply (a new baseline for the shrink guard).
      return kube.inventoryFileChanged();
    }
    log.info({ event: 'file', file, seenBy }, `changed: ${file}${seenBy === 'watcher' ? '' : ` (seen by the ${seenBy})`}`);
    if (config?.kubernetes && file === config.kubernetes.kubeconfig) return followConfig({ reload: true });
    return trigger('file change');
  }
  const contentCheck = new ContentCheck(
    () => reconciler.watched,
    (file) => reconciler.readDigests.get(file),
    (file) => fileChanged(file, 'content check'),
    opts.contentCheckMs ?? DEFAULT_CONTENT_CHECK_MS,
  );
  const onWatchError = (err: Error) => {
    log.warn({ event: 'file', err: err.message }, `file watch failed: ${err.message}; comparing the files' content now`);
    void contentCheck.checkAndAct();
  };
  const files = (opts.fileWatcher ?? ((c, e) => new FileWatcher(c, e)))(
    (file) => void fileChanged(file, 'watcher'),
    onWatchError,
  );
  const ifaces = new InterfaceWatcher(() => {
    log.info({ event: 'interfaces' }, 'interfaces or addresses changed');
    void trigger('interface change');
  });
  const drift = new DriftWatcher(reconciler, log, { ...DEFAULT_DRIFT, ...opts.drift });

  await contentCheck.remember(reconciler.watched);
  await reconciler.request('startup');
  await followInForce();
  await contentCheck.remember(reconciler.watched);
  await followConfig();
  // Armed in turn, then compared with what was loaded: whatever changed since
  // the sources were read (and before a watch could hear it) is acted on before
  // /readyz says ready; from then on the watchers hear every change.
  await files.setFiles(reconciler.watched);
  const interfacesMoved = ifaces.start(reconciler.interfacesRead);
  await drift.arm();
  if (interfacesMoved) log.info({ event: 'interfaces' }, 'interfaces or addresses changed while starting');
  const [moved] = await Promise.all([contentCheck.checkAndAct(), interfacesMoved ? trigger('interface change') : undefined]);
  contentCheck.start();
  await reconciler.idle(); // a change heard while arming: ready once it is loaded
  reconciler.markArmed();
  conflicts.start(CONFLICT_CHECK_MS);
  log.info(
    { event: 'startup', contentCheckMs: contentCheck.everyMs, changedWhileStarting: moved },
    'watching files, interfaces and rules',
  );

  const onHup = () => {
    log.info({ event: 'signal', signal: 'SIGHUP' }, 'reload requested');
    void trigger('signal');
  };
  process.on('SIGHUP', onHup);

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      process.off('SIGHUP', onHup);
      clearInterval(beat);
      conflicts.stop();
      await kube.stop();
      await reconciler.stop();
      ifaces.stop();
      drift.stop();
      contentCheck.stop();
      await files.close();
      verifier.stop();
      await denied.stop();
      await control?.close();
      await metricsListener.stop();
      await server.close();
      log.info({ event: 'stop' }, 'stopped; the rules stay in force (artesca-fw flush removes them)');
    })();
    return stopping;
  };
  return { stop };
}
