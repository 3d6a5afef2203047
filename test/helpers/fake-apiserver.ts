// A Kubernetes API server for the Node resource only, written from the API
// documentation (API Concepts: "Efficient detection of changes", "Retrieving
// large results sets in chunks", "Watch bookmarks"; Authenticating), not from
// the agent's client:
// - GET /api/v1/nodes: a NodeList; `limit` and `continue` page it from one
//   snapshot; an expired `continue` token is 410 Gone (reason Expired).
// - GET /api/v1/nodes?watch=1&resourceVersion=RV: newline-delimited JSON
//   events (ADDED, MODIFIED, DELETED) after RV; BOOKMARK events when
//   allowWatchBookmarks=true; the stream ends after timeoutSeconds; an RV older
//   than the kept history gets an ERROR event carrying a 410 Status.
// - TLS only; a client certificate signed by the cluster CA or a known bearer
//   token authenticates, anything else is 401 with a Status body.
// Test controls: change Nodes, expire history, stall open watches (the
// connection stays, nothing is sent, timeoutSeconds ignored), stop and start.
import { rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface FakeNode {
  apiVersion: 'v1';
  kind: 'Node';
  metadata: {
    name: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  spec: Record<string, unknown>;
  status: Record<string, unknown> & { addresses: { type: string; address: string }[] };
}

export interface NodeSpec {
  name: string;
  roles: string[];
  cp: string;
  /** Workload-plane address for the calico annotation; undefined: no annotation. */
  wp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface Event {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: FakeNode;
}

interface Watcher {
  res: ServerResponse;
  sentRv: number;
  bookmarks: boolean;
  stalled: boolean;
  timers: NodeJS.Timeout[];
}

export interface RequestRecord {
  at: number;
  kind: 'list' | 'watch' | 'other';
  query: Record<string, string>;
  status: number;
  user: string | null;
}

/** A Node as a kubelet and calico-node leave it: labels, annotations, addresses, and the bulk of status. */
export function makeNode(spec: NodeSpec, rv: number): FakeNode {
  const labels: Record<string, string> = {
    'kubernetes.io/hostname': spec.name,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
    'metalk8s.scality.com/version': '128.0.0',
    ...Object.fromEntries(spec.roles.map((r) => [`node-role.kubernetes.io/${r}`, ''])),
    ...spec.labels,
  };
  const annotations: Record<string, string> = {
    'node.alpha.kubernetes.io/ttl': '0',
    'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
    'kubeadm.alpha.kubernetes.io/cri-socket': 'unix:///run/containerd/containerd.sock',
    ...(spec.wp
      ? { 'projectcalico.org/IPv4Address': `${spec.wp}/24`, 'projectcalico.org/IPv4IPIPTunnelAddr': '10.233.1.0' }
      : {}),
    ...spec.annotations,
  };
  const now = '2026-12-01T00:00:00Z';
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: spec.name,
      uid: `uid-${spec.name}`,
      resourceVersion: String(rv),
      creationTimestamp: now,
      labels,
      annotations,
    },
    spec: {
      podCIDR: '10.233.0.0/24',
      taints: spec.roles.includes('master') ? [{ key: 'node-role.kubernetes.io/master', effect: 'NoSchedule' }] : [],
    },
    status: {
      addresses: [
        { type: 'InternalIP', address: spec.cp },
        { type: 'Hostname', address: spec.name },
      ],
      capacity: { cpu: '16', memory: '65851904Ki', pods: '110', 'ephemeral-storage': '102350Mi' },
      allocatable: { cpu: '16', memory: '65749504Ki', pods: '110', 'ephemeral-storage': '96589578161' },
      conditions: ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready'].map((type) => ({
        type,
        status: type === 'Ready' ? 'True' : 'False',
        lastHeartbeatTime: now,
        lastTransitionTime: now,
        reason: `Kubelet${type}`,
        message: `kubelet reports ${type}`,
      })),
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: 'f'.repeat(32),
        systemUUID: '0'.repeat(36),
        bootID: '1'.repeat(36),
        kernelVersion: '5.14.0-427.el9.x86_64',
        osImage: 'Rocky Linux 9.4',
        containerRuntimeVersion: 'containerd://1.7.20',
        kubeletVersion: 'v1.32.4',
        kubeProxyVersion: 'v1.32.4',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
      images: Array.from({ length: 12 }, (_, i) => ({
        names: [
          `registry.local/metalk8s-128.0.0/image-${i}@sha256:${'a'.repeat(64)}`,
          `registry.local/metalk8s-128.0.0/image-${i}:v1.${i}`,
        ],
        sizeBytes: 10_000_000 + i,
      })),
    },
  };
}

export class FakeApiServer {
  readonly requests: RequestRecord[] = [];
  readonly tokens = new Set<string>();
  /** Bookmark period for watches that allow them. */
  bookmarkMs = 1000;
  private rv = 1;
  private readonly nodes = new Map<string, FakeNode>();
  private events: Event[] = [];
  /** Watches from an RV at or below this get 410: that history is gone. */
  private compactedRv = 0;
  private readonly snapshots = new Map<string, { rv: number; items: FakeNode[]; at: number }>();
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  private server: https.Server | null = null;
  private where: { host: string; port: number } | { path: string } | null = null;

  constructor(private readonly tls: { ca: string; cert: string; key: string }) {}

  get resourceVersion(): string {
    return String(this.rv);
  }

  async start(
    where: { host: string; port: number } | { path: string } = this.where ?? { host: '127.0.0.1', port: 0 },
  ): Promise<void> {
    const server = https.createServer(
      { ca: this.tls.ca, cert: this.tls.cert, key: this.tls.key, requestCert: true, rejectUnauthorized: false },
      (req, res) => this.handle(req, res),
    );
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('secureConnection', (s: TLSSocket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    if ('path' in where) rmSync(where.path, { force: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if ('path' in where) server.listen(where.path, resolve);
      else server.listen(where.port, where.host, resolve);
    });
    const addr = server.address();
    this.where = 'path' in where ? where : { host: where.host, port: typeof addr === 'object' && addr ? addr.port : where.port };
    this.server = server;
  }

  get url(): string {
    if (!this.where || 'path' in this.where) throw new Error('not listening on TCP');
    return `https://${this.where.host}:${this.where.port}`;
  }

  /** Stops answering: open watches are cut, the listener closes (connections are refused). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const w of this.watchers) this.endWatch(w);
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // ---- the Nodes ----

  put(spec: NodeSpec): void {
    const exists = this.nodes.has(spec.name);
    const rv = ++this.rv;
    const node = makeNode(spec, rv);
    this.nodes.set(spec.name, node);
    this.emit({ rv, type: exists ? 'MODIFIED' : 'ADDED', object: node });
  }

  /** A status heartbeat: resourceVersion moves, nothing the agent reads changes. */
  heartbeat(name: string): void {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no Node ${name}`);
    const rv = ++this.rv;
    const next: FakeNode = structuredClone(node);
    next.metadata.resourceVersion = String(rv);
    (next.status.conditions as { lastHeartbeatTime: string }[])[3]!.lastHeartbeatTime = new Date().toISOString();
    this.nodes.set(name, next);
    this.emit({ rv, type: 'MODIFIED', object: next });
  }

  delete(name: string): void {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no Node ${name}`);
    this.nodes.delete(name);
    const rv = ++this.rv;
    const object: FakeNode = { ...node, metadata: { ...node.metadata, resourceVersion: String(rv) } };
    this.emit({ rv, type: 'DELETED', object });
  }

  /** Replaces every Node at once, without events (as if changed while nobody watched). */
  replaceAll(specs: NodeSpec[]): void {
    this.nodes.clear();
    const rv = ++this.rv;
    for (const s of specs) this.nodes.set(s.name, makeNode(s, rv));
    this.compact();
  }

  /** Drops the event history: watches from an older resourceVersion get 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv;
    this.events = [];
    this.snapshots.clear();
  }

  /** Sends an ERROR event with a 410 Status to every open watch, as an API server whose watch cache moved on. */
  expireWatches(): void {
    this.compact();
    for (const w of this.watchers) {
      if (w.stalled) continue;
      this.write(w, { type: 'ERROR', object: goneStatus('too old resource version') });
      this.endWatch(w);
    }
  }

  /** Open watches go silent: the connection stays, nothing more is sent, and timeoutSeconds is not honoured. */
  stallWatches(): number {
    let n = 0;
    for (const w of this.watchers) {
      w.stalled = true;
      for (const t of w.timers) clearTimeout(t);
      n++;
    }
    return n;
  }

  get openWatches(): number {
    return [...this.watchers].filter((w) => !w.stalled).length;
  }

  // ---- HTTP ----

  private user(req: IncomingMessage): string | null {
    const sock = req.socket as TLSSocket;
    if (sock.authorized) {
      const cert = sock.getPeerCertificate();
      if (cert?.subject?.CN) return `cert:${cert.subject.CN}`;
    }
    const auth = req.headers.authorization;
    const m = auth ? /^Bearer (\S+)$/.exec(auth) : null;
    if (m && this.tokens.has(m[1]!)) return `token:${m[1]!.slice(0, 6)}`;
    return null;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://x');
    const query = Object.fromEntries(url.searchParams);
    const user = this.user(req);
    const watch = query.watch === '1' || query.watch === 'true';
    const record: RequestRecord = {
      at: Date.now(),
      kind: url.pathname === '/api/v1/nodes' ? (watch ? 'watch' : 'list') : 'other',
      query,
      status: 200,
      user,
    };
    this.requests.push(record);
    const fail = (code: number, reason: string, message: string) => {
      record.status = code;
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
    };
    if (!user) {
      fail(401, 'Unauthorized', 'Unauthorized');
      return;
    }
    if (req.method !== 'GET' || record.kind === 'other') {
      fail(404, 'NotFound', `the server could not find the requested resource ${url.pathname}`);
      return;
    }
    if (watch) this.serveWatch(query, res, fail);
    else this.serveList(query, res, fail);
  }

  private serveList(q: Record<string, string>, res: ServerResponse, fail: (c: number, r: string, m: string) => void): void {
    let snap: { rv: number; items: FakeNode[]; at: number };
    let start = 0;
    if (q.continue) {
      const [id, offset] = q.continue.split(':');
      const s = this.snapshots.get(id ?? '');
      if (!s) {
        fail(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.');
        return;
      }
      snap = s;
      start = Number(offset);
    } else {
      snap = {
        rv: this.rv,
        items: [...this.nodes.values()].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1)),
        at: Date.now(),
      };
    }
    const limit = q.limit ? Number(q.limit) : 0;
    const end = limit > 0 ? Math.min(start + limit, snap.items.length) : snap.items.length;
    const metadata: Record<string, unknown> = { resourceVersion: String(snap.rv) };
    if (end < snap.items.length) {
      const id = `${snap.rv}-${snap.at}`;
      this.snapshots.set(id, snap);
      metadata.continue = `${id}:${end}`;
      metadata.remainingItemCount = snap.items.length - end;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind: 'NodeList', apiVersion: 'v1', metadata, items: snap.items.slice(start, end) }));
  }

  private serveWatch(q: Record<string, string>, res: ServerResponse, fail: (c: number, r: string, m: string) => void): void {
    const from = q.resourceVersion ? Number(q.resourceVersion) : this.rv;
    if (!Number.isInteger(from)) {
      fail(400, 'BadRequest', `invalid resourceVersion ${q.resourceVersion}`);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const w: Watcher = { res, sentRv: from, bookmarks: q.allowWatchBookmarks === 'true', stalled: false, timers: [] };
    this.watchers.add(w);
    res.on('close', () => this.endWatch(w));
    if (from < this.compactedRv) {
      this.write(w, { type: 'ERROR', object: goneStatus(`too old resource version: ${from} (${this.compactedRv})`) });
      this.endWatch(w);
      return;
    }
    for (const e of this.events) if (e.rv > from) this.write(w, { type: e.type, object: e.object }, e.rv);
    const timeout = q.timeoutSeconds ? Number(q.timeoutSeconds) : 1800;
    w.timers.push(setTimeout(() => this.endWatch(w), timeout * 1000));
    if (w.bookmarks) {
      const tick = () => {
        if (w.stalled || !this.watchers.has(w)) return;
        this.write(
          w,
          { type: 'BOOKMARK', object: { kind: 'Node', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) } } },
          this.rv,
        );
        w.timers.push(setTimeout(tick, this.bookmarkMs));
      };
      w.timers.push(setTimeout(tick, this.bookmarkMs));
    }
  }

  private emit(e: Event): void {
    this.events.push(e);
    for (const w of this.watchers) if (e.rv > w.sentRv) this.write(w, { type: e.type, object: e.object }, e.rv);
  }

  private write(w: Watcher, event: unknown, rv?: number): void {
    if (w.stalled) return;
    if (rv !== undefined) w.sentRv = Math.max(w.sentRv, rv);
    w.res.write(`${JSON.stringify(event)}\n`);
  }

  private endWatch(w: Watcher): void {
    if (!this.watchers.delete(w)) return;
    for (const t of w.timers) clearTimeout(t);
    if (!w.res.writableEnded) w.res.end();
  }
}

function goneStatus(message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Expired', code: 410 };
}
