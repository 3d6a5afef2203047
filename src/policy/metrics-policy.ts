// The policy `metrics.listen` brings: its port on the control plane, open to
// the infra nodes (where the cluster's Prometheus runs), as node-exporter's
// 9100 is, and the same port allowed out to the control plane. A policy like
// any other, so that plan, explain, verify and the denied record name it.
import type { Policy } from '../config/model.js';
import type { RawPolicy } from '../config/schema.js';
import { parsePolicy } from '../config/validate-policy.js';
import { formatPath } from '../config/yaml-source.js';
import { AfwError } from '../errors.js';

export const METRICS_POLICY = 'artesca-fw-metrics';

export function metricsPolicy(port: number): Policy {
  const raw: RawPolicy = {
    name: METRICS_POLICY,
    order: 105,
    appliesTo: { plane: 'controlPlane' },
    ingress: [
      {
        action: 'allow',
        protocol: 'tcp',
        ports: [port],
        from: { plane: 'controlPlane', roles: ['infra'] },
        comment: 'artesca-fw metrics (metrics.listen)',
      },
    ],
    egress: [
      {
        action: 'allow',
        protocol: 'tcp',
        ports: [port],
        to: { plane: 'controlPlane' },
        comment: 'artesca-fw metrics (metrics.listen)',
      },
    ],
  };
  return parsePolicy(
    raw,
    [],
    (at, m) => {
      throw new AfwError('AFW_INTERNAL', `metrics policy ${formatPath(at)}: ${m}`);
    },
    'builtin',
  )!;
}
