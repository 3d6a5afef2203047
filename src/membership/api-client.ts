// A thin client for the two requests the agent makes of the Kubernetes API
// server: a page of the Node list, and a watch of Nodes. node:https, the
// kubeconfig's CA and client credentials; no retries here (the informer owns
// the loop). Why not @kubernetes/client-node: see the README ("Membership from
// Kubernetes").
import https from 'node:https';
import { AfwError } from '../errors.js';
import { VERSION } from '../version.js';
import type { ApiCredentials } from './credentials.js';
import type { ApiStatus, NodeList, WatchEvent } from './node-object.js';

/** The API server answered 410 Gone: the resourceVersion or continue token is too old; list again. */
export class GoneError extends Error {}

/** A watch that sent nothing (no event, no bookmark) within its deadline. */
export class SilentWatchError extends Error {}

export interface NodeApi {
  readonly server: string;
  listPage(opts: { limit: number; continue?: string }, signal?: AbortSignal): Promise<NodeList>;
  /**
   * Follows one watch: resolves when the API server ends it (its timeoutSeconds),
   * rejects on an error, a 410 (GoneError), or `silentMs` without a byte (SilentWatchError).
   */
  watch(
    opts: { resourceVersion: string; timeoutSeconds: number; silentMs: number },
    onEvent: (e: WatchEvent) => void,
    signal: AbortSignal,
    onOpen?: () => void,
  ): Promise<void>;
  close(): void;
}

const LIST_TIMEOUT_MS = 30_000;

function statusMessage(status: number, body: string): string {
  try {
    const s = JSON.parse(body) as ApiStatus;
    if (s.kind === 'Status' && s.message) return `${status} ${s.reason ?? ''}: ${s.message}`.replace(' :', ':');
  } catch {
    // not JSON: the first line of the body says enough
  }
  return `${status}: ${body.split('\n')[0]?.slice(0, 200) ?? ''}`;
}

export class HttpsNodeApi implements NodeApi {
  readonly server: string;
  private readonly agent: https.Agent;
  private readonly url: URL;

  constructor(private readonly creds: ApiCredentials) {
    this.server = creds.server;
    this.url = new URL(creds.server);
    this.agent = new https.Agent({
      keepAlive: true,
      maxSockets: 2,
      ca: creds.ca,
      ...(creds.cert && creds.key ? { cert: creds.cert, key: creds.key } : {}),
      ...(creds.serverName ? { servername: creds.serverName } : {}),
    });
  }

  close(): void {
    this.agent.destroy();
  }

  private request(query: URLSearchParams, signal?: AbortSignal): https.RequestOptions & { signal?: AbortSignal } {
    const token = this.creds.token();
    return {
      agent: this.agent,
      host: this.url.hostname.replace(/^\[|\]$/g, ''),
      port: this.url.port || 443,
      path: `/api/v1/nodes?${query.toString()}`,
      method: 'GET',
      headers: {
        Accept: 'application/json',
        'User-Agent': `artesca-fw/${VERSION}`,
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
      },
      ...(signal ? { signal } : {}),
    };
  }

  listPage(opts: { limit: number; continue?: string }, signal?: AbortSignal): Promise<NodeList> {
    const q = new URLSearchParams({ limit: String(opts.limit) });
    if (opts.continue) q.set('continue', opts.continue);
    return new Promise((resolve, reject) => {
      // A keep-alive socket keeps the request that opened it, for as long as it lives
      // (on Node 24 its TLS 'session' listener does), and the watch goes on on that
      // socket: the request's response, its listeners and what they capture stay
      // reachable. Were resolve/reject captured, the settled promise and its value
      // (a page of 500 untrimmed Nodes) would stay resident: the listeners reach them
      // only through `pending`, emptied once settled.
      let pending: { resolve: (list: NodeList) => void; reject: (err: Error) => void } | null = { resolve, reject };
      const settle = (err: Error | null, list?: NodeList) => {
        const p = pending;
        pending = null;
        if (err) p?.reject(err);
        else if (list) p?.resolve(list);
      };
      const req = https.request(this.request(q, signal), (res) => {
        let chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => settle(err));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          chunks = [];
          if (res.statusCode === 410) return settle(new GoneError(statusMessage(410, body)));
          if (res.statusCode !== 200) {
            return settle(
              new AfwError('AFW_APISERVER', `${this.server}: list Nodes: ${statusMessage(res.statusCode ?? 0, body)}`),
            );
          }
          let list: NodeList;
          try {
            list = JSON.parse(body) as NodeList;
            if (!Array.isArray(list.items) || typeof list.metadata !== 'object') throw new Error('not a NodeList');
          } catch (err) {
            return settle(
              new AfwError('AFW_APISERVER', `${this.server}: list Nodes: the answer is not a NodeList`, { cause: err }),
            );
          }
          settle(null, list);
        });
      });
      req.setTimeout(LIST_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${LIST_TIMEOUT_MS / 1000} s`)));
      req.on('error', (err) =>
        settle(new AfwError('AFW_APISERVER', `${this.server}: list Nodes: ${err.message}`, { cause: err })),
      );
      req.end();
    });
  }

  watch(
    opts: { resourceVersion: string; timeoutSeconds: number; silentMs: number },
    onEvent: (e: WatchEvent) => void,
    signal: AbortSignal,
    onOpen?: () => void,
  ): Promise<void> {
    const q = new URLSearchParams({
      watch: '1',
      resourceVersion: opts.resourceVersion,
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(opts.timeoutSeconds),
    });
    return new Promise((resolve, reject) => {
      let silence: NodeJS.Timeout | undefined;
      let settled = false;
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(silence);
        if (err) reject(err);
        else resolve();
      };
      const req = https.request(this.request(q, signal), (res) => {
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const body = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode === 410) finish(new GoneError(statusMessage(410, body)));
            else
              finish(new AfwError('AFW_APISERVER', `${this.server}: watch Nodes: ${statusMessage(res.statusCode ?? 0, body)}`));
          });
          return;
        }
        onOpen?.();
        let buffered = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          armSilence();
          buffered += chunk;
          let nl = buffered.indexOf('\n');
          while (nl >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            nl = buffered.indexOf('\n');
            if (!line) continue;
            let event: WatchEvent;
            try {
              event = JSON.parse(line) as WatchEvent;
            } catch (err) {
              req.destroy();
              finish(new AfwError('AFW_APISERVER', `${this.server}: watch Nodes: a line is not JSON`, { cause: err }));
              return;
            }
            try {
              onEvent(event);
            } catch (err) {
              req.destroy();
              finish(err as Error);
              return;
            }
          }
        });
        res.on('end', () => finish());
        res.on('error', (err) =>
          finish(new AfwError('AFW_APISERVER', `${this.server}: watch Nodes: ${err.message}`, { cause: err })),
        );
        res.on('aborted', () => finish(new AfwError('AFW_APISERVER', `${this.server}: watch Nodes: connection dropped`)));
      });
      // Silent: neither an event nor a bookmark nor the end for longer than the server was asked to wait.
      const armSilence = () => {
        clearTimeout(silence);
        silence = setTimeout(() => {
          req.destroy();
          finish(new SilentWatchError(`${this.server}: watch Nodes: nothing received for ${Math.round(opts.silentMs / 1000)} s`));
        }, opts.silentMs);
      };
      armSilence();
      req.on('error', (err) => {
        if (signal.aborted) finish();
        else finish(new AfwError('AFW_APISERVER', `${this.server}: watch Nodes: ${err.message}`, { cause: err }));
      });
      req.end();
    });
  }
}
