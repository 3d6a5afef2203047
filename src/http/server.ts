// The status server: read-only views of the agent's state (fastify).
import Fastify, { type FastifyInstance } from 'fastify';
import type { Metrics } from './metrics.js';

export interface StatusSource {
  alive(): boolean;
  readiness(): { ready: boolean; reason: string };
  status(): Promise<Record<string, unknown>>;
  /** The record of denied flows (`since`: ms since the epoch; `top`: at most this many). */
  denied(q: { since?: number; top?: number }): unknown;
  /** Told after each response. */
  served?: () => void;
}

// No route of ours has a schema. Without compilers of its own, fastify loads ajv and
// fast-json-stringify (about a hundred modules, held for the agent's life) at
// ready to compile schemas nobody declared; these refuse, so a schema added
// later fails at startup instead of going unchecked.
function noSchemaCompiler(): never {
  throw new Error("the agent's servers compile no schemas: routes here take none");
}

/**
 * A fastify instance as the agent's servers are (status, control): no logger,
 * no schema compilers. `served`: told after each response (the daemon's
 * collector hears of request bursts that way).
 */
export function agentFastify(served?: () => void): FastifyInstance {
  const app = Fastify({
    logger: false,
    schemaController: { compilersFactory: { buildValidator: noSchemaCompiler, buildSerializer: noSchemaCompiler } },
  });
  if (served) app.addHook('onResponse', async () => served());
  return app;
}

export function buildServer(source: StatusSource, metrics: Metrics): FastifyInstance {
  const app = agentFastify(source.served);
  app.get('/healthz', async (_req, reply) => {
    const alive = source.alive();
    return reply.code(alive ? 200 : 503).send({ alive });
  });
  app.get('/readyz', async (_req, reply) => {
    const r = source.readiness();
    return reply.code(r.ready ? 200 : 503).send(r);
  });
  app.get('/status', async () => source.status());
  app.get('/denied', async (req, reply) => {
    const query = req.query as Record<string, string | undefined>;
    const since = query.since === undefined ? undefined : Number(query.since);
    const top = query.top === undefined ? undefined : Number(query.top);
    if ((since !== undefined && !Number.isFinite(since)) || (top !== undefined && !(Number.isInteger(top) && top >= 0))) {
      return reply.code(400).send({ error: 'since is a time in ms since the epoch, top a whole number' });
    }
    return source.denied({ since, top });
  });
  addMetricsRoute(app, metrics);
  return app;
}

/** GET /metrics, the Prometheus text: on the status server, and alone on the cluster's scrape endpoint (metrics.listen). */
export function addMetricsRoute(app: FastifyInstance, metrics: Metrics): void {
  app.get('/metrics', async (_req, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
}
