// The cluster's scrape endpoint (`metrics.listen`, off by default): /metrics
// and nothing else on this node's control-plane address, so that the
// cluster's Prometheus on the infra nodes can scrape it through the rule the
// metrics policy adds. /status stays on loopback: it carries the inventory.
// Follows the config in force: opened, moved or closed after each reconcile.
// A listener that cannot open (the address not on an interface yet, the port
// taken) is logged and shown in /status; the agent keeps enforcing.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/model.js';
import type { Metrics } from '../http/metrics.js';
import { addMetricsRoute, agentFastify } from '../http/server.js';

export interface MetricsListenStatus {
  /** host:port asked for, or null (off). */
  listen: string | null;
  listening: boolean;
  error: string | null;
}

type Listen = Config['metrics']['listen'];

const key = (l: Listen) => (l?.host ? (l.host.includes(':') ? `[${l.host}]:${l.port}` : `${l.host}:${l.port}`) : null);

export class MetricsListener {
  private app: FastifyInstance | null = null;
  private current: string | null = null;
  readonly status: MetricsListenStatus = { listen: null, listening: false, error: null };
  /** One change at a time: a reconcile may follow another before a listener is open. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** Told after each response (as the status server's). */
    private readonly served?: () => void,
  ) {}

  configure(listen: Listen): Promise<void> {
    this.chain = this.chain.then(() => this.apply(listen));
    return this.chain;
  }

  private async apply(listen: Listen): Promise<void> {
    const wanted = key(listen);
    if (wanted === this.current && (this.app || !wanted)) return;
    await this.closeApp();
    this.current = wanted;
    this.status.listen = wanted;
    this.status.listening = false;
    this.status.error = null;
    if (!listen?.host || !wanted) return;
    const app = agentFastify(this.served);
    addMetricsRoute(app, this.metrics);
    try {
      await app.listen({ host: listen.host, port: listen.port });
      this.app = app;
      this.status.listening = true;
      this.log.info({ event: 'metrics', listen: wanted }, `serving /metrics for the cluster on ${wanted}`);
    } catch (err) {
      await app.close().catch(() => undefined);
      this.status.error = (err as Error).message;
      this.log.error(
        { event: 'metrics', listen: wanted, err: (err as Error).message },
        `cannot serve /metrics on ${wanted}: ${(err as Error).message}`,
      );
    }
  }

  private async closeApp(): Promise<void> {
    const app = this.app;
    this.app = null;
    await app?.close();
  }

  async stop(): Promise<void> {
    await this.chain;
    await this.closeApp();
  }
}
