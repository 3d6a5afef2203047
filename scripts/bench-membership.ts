// `npm run bench:membership` (root): membership from Kubernetes against the
// test API server (test/helpers/fake-apiserver.ts) at 3 and 5,000 Nodes.
// Node event to rule live (p50/p99), first list to ready, RSS with the watch
// running, and the requests made to the API server in an idle window with
// kubelet-like status heartbeats (a MODIFIED event per Node every 5 minutes).
// The agent runs in a network namespace made here; the API server runs in this
// process on a unix socket, forwarded to 127.0.0.1:6443 inside the namespace.
// Rewrites the section of BENCHMARKS.md between its `bench-membership` markers.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FakeApiServer, type NodeSpec } from '../test/helpers/fake-apiserver.js';
import { kubeconfigText, makePki } from '../test/helpers/test-pki.js';
import { benchRoles, configText, median, nodeAddress, percentile } from './bench/fixtures.js';
import { benchMemory, type MemoryResult } from './bench/kernel-bench.js';
import { runMain, writeSection } from './bench/report.js';
import { DaemonProc, until } from './lab/daemon.js';
import { buildCluster, kernelTestsBlocked, Lab } from './lab/netns.js';
import { residentMb } from './lab/resident.js';
import { unitRuntimeEnv } from './lab/unit-env.js';

const START = '<!-- bench-membership: written by npm run bench:membership -->';
const END = '<!-- /bench-membership -->';
const IDLE_MS = Number(process.env.BENCH_IDLE_SECONDS ?? 600) * 1000;
/** Where BENCHMARKS.md goes; BENCH_NO_WRITE=1 prints only (trials). */
const WRITE = process.env.BENCH_NO_WRITE !== '1';
const HEARTBEAT_PERIOD_S = 300;
/** BENCH_EVENTS_ONLY=5000,20000: only event to rule live at those sizes, printed with the agent's own split (trials). */
const EVENTS_ONLY = (process.env.BENCH_EVENTS_ONLY ?? '').split(',').filter(Boolean).map(Number);
const EVENT_SAMPLES = Number(process.env.BENCH_EVENT_SAMPLES ?? 60);
/**
 * Between a sample's log line and the next event. BENCH_EVENT_GAP_MS=1000:
 * gaps drawn between half and one and a half times that, so that events also
 * come while the agent's quiet-time collection runs (a second after a reconcile).
 */
const EVENT_GAP_MS = Number(process.env.BENCH_EVENT_GAP_MS ?? 30);
const gap = () => (EVENT_GAP_MS > 30 ? EVENT_GAP_MS * (0.5 + Math.random()) : EVENT_GAP_MS);
/** After the first event: the agent's start is over (its quiet-time collection runs a second after its last reconcile). */
const SETTLE_MS = 2000;

interface Result {
  nodes: number;
  startToReadyMs: number;
  firstListToReadyMs: number;
  listPages: number;
  eventToLive: number[];
  /** The agent's own account of each sample (its apply log line): whole reconcile, compile, load. */
  agentMs: { durationMs: number; compileMs: number; loadMs: number }[];
  /** The one event sent right after ready, before the samples. */
  firstAfterReady: number;
  resident: Resident;
  idle?: {
    seconds: number;
    lists: number;
    watches: number;
    maxOpenWatches: number;
    heartbeats: number;
    cpuPct: number;
    resident: Resident;
    /** The agent's own account of its memory at the end (process.memoryUsage in /status). */
    memory: Record<string, number>;
  };
}

/** A bench node (roles as the bench inventories); `etcd` adds or removes that role. */
function spec(i: number, etcd?: boolean): NodeSpec {
  const base = benchRoles(i);
  const roles = etcd === undefined ? base : [...base.filter((r) => r !== 'etcd'), ...(etcd ? ['etcd'] : [])];
  return { name: `node-${i + 1}`, roles, cp: nodeAddress('cp', i), wp: nodeAddress('wp', i) };
}

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
}

type Resident = ReturnType<typeof residentMb>;

/** Resident memory to one decimal, as the report prints it. */
function rounded(r: Resident): Resident {
  const d = (n: number) => Math.round(n * 10) / 10;
  return { rss: d(r.rss), anon: d(r.anon), file: d(r.file) };
}

function residentOf(pid: number): Resident {
  return rounded(residentMb(pid));
}

function residentText(r: Resident): string {
  return `${r.rss} MB (${r.anon} anonymous + ${r.file} file-backed)`;
}

async function scenario(nodes: number, samples: number, idleMs: number): Promise<Result> {
  const lab = new Lab('bm');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'afw-bm-'));
  const api = new FakeApiServer(
    (() => {
      const pki = makePki(tmp);
      writeFileSync(
        path.join(tmp, 'kubeconfig'),
        kubeconfigText({ server: 'https://127.0.0.1:6443', caFile: pki.caFile, token: 'bench' }),
      );
      return { ca: pki.ca, cert: pki.serverCert, key: pki.serverKey };
    })(),
  );
  api.tokens.add('bench');
  api.bookmarkMs = 60_000;
  let daemon: DaemonProc | undefined;
  try {
    for (let i = 0; i < nodes; i++) api.put(spec(i));
    api.compact(); // the agent lists what is there; the history of the setup is not its business
    const sock = path.join(tmp, 'api.sock');
    await api.start({ path: sock });
    const ns = await buildCluster(lab, [{ name: 'node', cp: ['10.100.0.1/16'], wp: ['10.200.0.1/16'] }]);
    const peer = lab.peer(ns.node!);
    await peer.forward(6443, sock);
    const config = path.join(tmp, 'config.yaml');
    writeFileSync(
      config,
      configText({
        stateDir: path.join(tmp, 'state'),
        extra: { inventory: { file: 'inventory.yaml', kubernetes: { kubeconfig: 'kubeconfig' } } },
      }),
    );

    const started = Date.now();
    daemon = new DaemonProc(ns.node!, ['--config', config]);
    await until(async () => (await peer.http('http://127.0.0.1:9900/readyz')).status === 200, 30_000, 20);
    const ready = Date.now();
    const firstList = api.requests.find((r) => r.kind === 'list')!.at;
    const listPages = api.requests.filter((r) => r.kind === 'list').length;

    // Node event -> rule live: a Node gains or loses the etcd label; the agent's
    // log line after the load (same clock) ends the sample. The first event
    // comes right after ready, while the agent still finishes its start (its
    // copies on disk, V8 collecting the first list's garbage, code not yet
    // optimized): reported on its own. The samples start once the agent is
    // settled, as Node events find it in a running cluster.
    const eventToLive: number[] = [];
    const agentMs: Result['agentMs'] = [];
    const isEtcd = new Map<number, boolean>();
    let firstAfterReady = 0;
    for (let k = -1; k < samples; k++) {
      const i = nodes > 10 ? 100 + ((k + 50) % 50) * 7 : 2;
      const etcd = !(isEtcd.get(i) ?? spec(i).roles.includes('etcd'));
      isEtcd.set(i, etcd);
      const since = daemon.logs.length;
      const t = Date.now();
      api.put(spec(i, etcd));
      const d = daemon;
      const line = await d
        .waitFor((l) => l.event === 'apply' && l.reason === 'membership' && l.result === 'applied', 5000, since)
        .catch((err: Error) => {
          const reqs = api.requests.map((r) => `${r.kind} ${r.status} ${JSON.stringify(r.query)}`);
          throw new Error(`${err.message}\nrequests: ${reqs.join('; ')}\nlog: ${d.logs.map((l) => l.msg).join(' | ')}`);
        });
      if (k < 0) {
        firstAfterReady = Date.parse(line.time) - t;
        await new Promise((r) => setTimeout(r, SETTLE_MS));
        continue;
      }
      eventToLive.push(Date.parse(line.time) - t);
      agentMs.push({ durationMs: Number(line.durationMs), compileMs: Number(line.compileMs), loadMs: Number(line.loadMs) });
      await new Promise((r) => setTimeout(r, gap()));
    }
    const status = JSON.parse((await peer.http('http://127.0.0.1:9900/status')).body) as { pid: number };
    const pid = status.pid;
    await new Promise((r) => setTimeout(r, 2000));
    const result: Result = {
      nodes,
      startToReadyMs: ready - started,
      firstListToReadyMs: ready - firstList,
      listPages,
      eventToLive,
      agentMs,
      firstAfterReady,
      resident: residentOf(pid),
    };

    if (idleMs > 0) {
      const from = api.requests.length;
      const cpu0 = cpuTicks(pid);
      const t0 = Date.now();
      let heartbeats = 0;
      let maxOpen = 0;
      const perTick = nodes / HEARTBEAT_PERIOD_S / 10;
      let owed = 0;
      while (Date.now() - t0 < idleMs) {
        owed += perTick;
        for (; owed >= 1; owed--) {
          api.heartbeat(`node-${1 + Math.floor(Math.random() * nodes)}`);
          heartbeats++;
        }
        maxOpen = Math.max(maxOpen, api.openWatches);
        await new Promise((r) => setTimeout(r, 100));
      }
      const seconds = (Date.now() - t0) / 1000;
      const ticks = cpuTicks(pid) - cpu0;
      const reqs = api.requests.slice(from);
      result.idle = {
        seconds,
        lists: reqs.filter((r) => r.kind === 'list').length,
        watches: reqs.filter((r) => r.kind === 'watch').length,
        maxOpenWatches: maxOpen,
        heartbeats,
        cpuPct: Math.round((ticks / 100 / seconds) * 1000) / 10,
        resident: residentOf(pid),
        memory: (JSON.parse((await peer.http('http://127.0.0.1:9900/status')).body) as { memory: Record<string, number> }).memory,
      };
    }
    return result;
  } finally {
    await daemon?.kill('SIGKILL').catch(() => undefined);
    await lab.cleanup();
    await api.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The last sample of benchMemory, once the agent is idle, to one decimal. */
function idleRss(m: MemoryResult): string {
  return residentText(rounded({ rss: m.rssMb[m.rssMb.length - 1]!, anon: m.anonMb, file: m.fileMb }));
}

/** The runtime alone, started as the unit starts the agent: the same node, with the unit's runtime settings. */
function runtimeFloor(what: 'bare' | 'libraries'): Resident {
  const script = path.join(path.dirname(new URL(import.meta.url).pathname), 'bench/runtime-floor.js');
  const out = execFileSync(process.execPath, ['--expose-gc', script, what], {
    encoding: 'utf8',
    env: { ...process.env, ...unitRuntimeEnv() },
  });
  return rounded(JSON.parse(out) as Resident);
}

async function main(): Promise<number> {
  const blocked = kernelTestsBlocked();
  if (blocked) {
    console.error(blocked);
    return 1;
  }
  if (EVENTS_ONLY.length > 0) return eventsOnly();
  // The same agent without Kubernetes, from an inventory file: the floor to compare with.
  const bare = runtimeFloor('bare');
  const libraries = runtimeFloor('libraries');
  const floor3 = await benchMemory(3, 30);
  const floor5k = await benchMemory(5000, 30);
  const small = await scenario(3, 100, 0);
  console.log('3 nodes done');
  const large = await scenario(5000, 60, IDLE_MS);
  console.log('5,000 nodes done');
  const huge = await scenario(20_000, 40, 0);
  const ms = (n: number) => `${Math.round(n)} ms`;
  const row = (r: Result) =>
    `| ${r.nodes.toLocaleString('en-US')} | ${ms(median(r.eventToLive))} | ${ms(percentile(r.eventToLive, 99))} | ${ms(Math.max(...r.eventToLive))} | ${ms(r.firstAfterReady)} | ${ms(r.firstListToReadyMs)} (${r.listPages} page(s)) | ${ms(r.startToReadyMs)} | ${residentText(r.resident)} |`;
  const idle = large.idle!;
  const section = [
    START,
    '## 9. Membership from Kubernetes',
    '',
    `\`npm run bench:membership\`, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}. The agent in a network namespace follows the test API server over TLS (a unix socket forwarded to 127.0.0.1:6443 in the namespace). Event to rule live: from the Node change in the API server to the agent's log line written after the load (same clock), a Node gaining or losing the etcd label, ${small.eventToLive.length} samples at 3 Nodes, ${large.eventToLive.length} at 5,000 and ${huge.eventToLive.length} at 20,000, ${EVENT_GAP_MS > 30 ? `${EVENT_GAP_MS / 2}-${(EVENT_GAP_MS * 3) / 2} ms` : `${EVENT_GAP_MS} ms`} apart, from ${SETTLE_MS / 1000} s after one first event sent right after \`/readyz\` answered 200 (that one is reported on its own: the agent is still finishing its start then, writing its copies on disk while V8 collects the first list's garbage). First list to ready: from the first list request to \`/readyz\` 200 (a fresh agent, no cache). Nodes are kubelet-sized (labels, annotations, conditions, images).`,
    '',
    '| Nodes | event to rule live p50 | p99 | max | first event, right after ready | first list to ready | process start to ready | RSS after (watch running) |',
    '|---|---|---|---|---|---|---|---|',
    row(small),
    row(large),
    row(huge),
    '',
    `Goals: event to rule live p99 at 5,000 Nodes ≤ 50 ms: ${percentile(large.eventToLive, 99) <= 50 ? 'met' : 'MISSED'}; at 20,000 Nodes ≤ 100 ms: ${percentile(huge.eventToLive, 99) <= 100 ? 'met' : 'MISSED'}; first list of 5,000 to ready ≤ 2 s: ${large.firstListToReadyMs <= 2000 ? 'met' : 'MISSED'}; RSS at 5,000 ≤ 80 MB: ${Math.max(large.resident.rss, idle.resident.rss) <= 80 ? 'met' : 'MISSED'}.`,
    '',
    `Idle, 5,000 Nodes, ${Math.round(idle.seconds)} s with kubelet-like heartbeats (${idle.heartbeats} MODIFIED events that change nothing the agent reads, about ${Math.round(idle.heartbeats / idle.seconds)} per second): ${idle.lists} list request(s), ${idle.watches} watch request(s) (watchTimeoutSeconds 300: a new watch when the server ends one), at most ${idle.maxOpenWatches} watch open at a time; agent CPU ${idle.cpuPct} % of one core; RSS at the end ${residentText(idle.resident)} (V8 heap used ${idle.memory.heapUsedMb} of ${idle.memory.heapTotalMb} MB, external ${idle.memory.externalMb} MB). Goal (one watch at a time, no relist without a 410): ${idle.maxOpenWatches <= 1 && idle.lists === 0 ? 'met' : 'MISSED'}.`,
    '',
    `For scale, the same agent on the same runtime without Kubernetes, idle 30 s after its first load: RSS ${idleRss(floor3)} with a 3-node inventory file (V8 heap used ${floor3.heapUsedMb} MB), ${idleRss(floor5k)} with the 5,000-node file (heap ${floor5k.heapUsedMb} MB). The membership adds the Node objects (trimmed), their mapping and the TLS client to that. Below both, the runtime itself started the same way (\`scripts/bench/runtime-floor.ts\`, collected and idle, no agent code): ${residentText(bare)} with nothing loaded, ${residentText(libraries)} with the libraries the daemon loads at startup (fastify, pino, prom-client, zod, js-yaml, chokidar, commander, ipaddr.js, node:https). File-backed: pages of the node binary (its code) and libraries read in, shared with any process running them and dropped by the kernel under memory pressure; anonymous: the agent's own.`,
    END,
  ].join('\n');
  if (WRITE) writeSection(START, END, section);
  else console.log(section);
  return 0;
}

/** Event to rule live beside the agent's own reconcile time, compile and load (p50 / p99), for each size asked. */
async function eventsOnly(): Promise<number> {
  for (const nodes of EVENTS_ONLY) {
    const r = await scenario(nodes, EVENT_SAMPLES, 0);
    const pair = (xs: number[]) => `${Math.round(median(xs))} / ${Math.round(percentile(xs, 99))} ms`;
    console.log(
      `${nodes} Nodes, ${r.eventToLive.length} samples: event to live ${pair(r.eventToLive)}; ` +
        `first after ready ${Math.round(r.firstAfterReady)} ms; agent reconcile ${pair(r.agentMs.map((a) => a.durationMs))}, compile ${pair(r.agentMs.map((a) => a.compileMs))}, ` +
        `load ${pair(r.agentMs.map((a) => a.loadMs))}; RSS ${residentText(r.resident)}`,
    );
  }
  return 0;
}

runMain(main);
