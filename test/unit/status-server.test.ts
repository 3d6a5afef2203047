// The status server's routes and what it loads (fastify inject: no socket).
import { createRequire } from 'node:module';
import { afterEach, expect, it } from 'vitest';
import { Metrics } from '../../src/http/metrics.js';
import { buildServer, type StatusSource } from '../../src/http/server.js';

const cjs = createRequire(import.meta.url);
let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

function serve(source: Partial<StatusSource> = {}) {
  const metrics = new Metrics(
    async () => [],
    () => 0,
  );
  const app = buildServer(
    {
      alive: () => true,
      readiness: () => ({ ready: true, reason: 'rules loaded' }),
      status: async () => ({ node: 'node-1', ruleset: { hash: 'abc' } }),
      denied: (q) => ({ asked: q }),
      ...source,
    },
    metrics,
  );
  close = () => app.close();
  return { app, metrics };
}

it('answers /healthz, /readyz and /status with their codes and JSON bodies', async () => {
  const { app } = serve({ readiness: () => ({ ready: false, reason: 'no ruleset loaded yet' }) });
  const health = await app.inject('/healthz');
  expect([health.statusCode, health.json()]).toEqual([200, { alive: true }]);
  const ready = await app.inject('/readyz');
  expect([ready.statusCode, ready.json()]).toEqual([503, { ready: false, reason: 'no ruleset loaded yet' }]);
  const status = await app.inject('/status');
  expect([status.statusCode, status.json()]).toEqual([200, { node: 'node-1', ruleset: { hash: 'abc' } }]);
  expect((await app.inject('/nope')).statusCode).toBe(404);
});

it('says 503 on /healthz when the agent is not alive, and serves Prometheus text on /metrics', async () => {
  const { app, metrics } = serve({ alive: () => false });
  expect((await app.inject('/healthz')).statusCode).toBe(503);
  metrics.driftRepairs.inc();
  const res = await app.inject('/metrics');
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toContain('text/plain');
  expect(res.body).toMatch(/^artesca_fw_drift_repairs_total 1$/m);
});

it('loads no schema compiler (ajv, fast-json-stringify): no route declares a schema', async () => {
  const { app } = serve();
  await app.ready();
  await app.inject('/status');
  // fastify's own error serializer is precompiled and needs only fast-json-stringify/lib: not the compilers.
  const compilers = Object.keys(cjs.cache).filter((p) =>
    /[/\\]node_modules[/\\](ajv[/\\]|@fastify[/\\](ajv-compiler|fast-json-stringify-compiler)[/\\]|fast-json-stringify[/\\]index\.js)/.test(
      p,
    ),
  );
  expect(compilers).toEqual([]);
});
