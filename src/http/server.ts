// The status server: read-only views of the agent's state (fastify).
import Fastify, { type FastifyInstance } from 'fastify';
import type { Metrics } from './metrics.js';

export interface StatusSource {
  alive(): boolean;
  readiness(): { ready: boolean; reason: string };
  status(): Promise<Record<string, unknown>>;
}

export function buildServer(source: StatusSource, metrics: Metrics): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/healthz', async (_req, reply) => {
    const alive = source.alive();
    return reply.code(alive ? 200 : 503).send({ alive });
  });
  app.get('/readyz', async (_req, reply) => {
    const r = source.readiness();
    return reply.code(r.ready ? 200 : 503).send(r);
  });
  app.get('/status', async () => source.status());
  app.get('/metrics', async (_req, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
  return app;
}
